import { readFileSync } from 'node:fs';

import { z } from 'zod';

import { routineDurable } from '@lifeline/contracts';
import { ERROR_KINDS, type ErrorKind } from '@lifeline/errors';

import { DEFAULT_POLICY_SET, RETRY_ACTIONS, type ClassPolicy, type PolicySet } from './retry-policy.js';

/**
 * Retry policies as data: a JSON document (env `RETRY_POLICIES`, or a file at `RETRY_POLICIES_FILE`)
 * of partial policy sets merged over the built-in defaults, most specific last:
 * defaults → services[service] → consumers[durable] (a `-stat` twin: its routine durable's entry, then
 * its own) → messageTypes[type]. Validated at boot.
 */
const ClassPolicyPatch = z
  .object({
    action: z.enum(RETRY_ACTIONS).optional(),
    maxAttempts: z.number().int().min(0).max(10_000).optional(),
    baseDelayMs: z.number().int().min(0).max(86_400_000).optional(),
    maxDelayMs: z.number().int().min(0).max(86_400_000).optional(),
    jitter: z.enum(['full', 'equal', 'none']).optional(),
  })
  .strict();

const PolicyPatch = z
  .object({
    classes: z.partialRecord(z.enum(ERROR_KINDS), ClassPolicyPatch).optional(),
    park: z.boolean().optional(),
  })
  .strict();
export type PolicyPatch = z.infer<typeof PolicyPatch>;

export const RetryPoliciesConfig = z
  .object({
    defaults: PolicyPatch.optional(),
    services: z.record(z.string(), PolicyPatch).optional(),
    consumers: z.record(z.string(), PolicyPatch).optional(),
    messageTypes: z.record(z.string(), PolicyPatch).optional(),
  })
  .strict();
export type RetryPoliciesConfig = z.infer<typeof RetryPoliciesConfig>;

/**
 * Parking is on by default for the message types whose later events depend on earlier ones of the
 * same patient (orders, results, ADT): applying them past a dead-lettered one would corrupt state.
 */
export const DEFAULT_PARKED_TYPE_PREFIXES: readonly string[] = ['clinical.order.', 'clinical.result.', 'clinical.adt.'];

export class RetryPolicyConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid retry policies: ${issues.join('; ')}`);
    this.name = 'RetryPolicyConfigError';
  }
}

export function parseRetryPoliciesConfig(input: unknown): RetryPoliciesConfig {
  const result = RetryPoliciesConfig.safeParse(input);
  if (!result.success) {
    throw new RetryPolicyConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

/** Reads RETRY_POLICIES_FILE then RETRY_POLICIES (merged over the file); absent → empty config. */
export function loadRetryPoliciesConfig(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): RetryPoliciesConfig {
  const docs: unknown[] = [];
  const file = env.RETRY_POLICIES_FILE;
  if (file) docs.push(parseJson(readFile(file), 'RETRY_POLICIES_FILE'));
  if (env.RETRY_POLICIES) docs.push(parseJson(env.RETRY_POLICIES, 'RETRY_POLICIES'));
  const configs = docs.map(parseRetryPoliciesConfig);
  return configs.reduce<RetryPoliciesConfig>((acc, c) => mergeConfigs(acc, c), {});
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RetryPolicyConfigError([`${source}: not valid JSON`]);
  }
}

function mergeConfigs(a: RetryPoliciesConfig, b: RetryPoliciesConfig): RetryPoliciesConfig {
  const mergeMap = (x?: Record<string, PolicyPatch>, y?: Record<string, PolicyPatch>) => {
    if (!x && !y) return undefined;
    const out: Record<string, PolicyPatch> = { ...x };
    for (const [k, v] of Object.entries(y ?? {})) out[k] = mergePatch(out[k], v);
    return out;
  };
  return {
    defaults: a.defaults || b.defaults ? mergePatch(a.defaults, b.defaults ?? {}) : undefined,
    services: mergeMap(a.services, b.services),
    consumers: mergeMap(a.consumers, b.consumers),
    messageTypes: mergeMap(a.messageTypes, b.messageTypes),
  };
}

function mergePatch(a: PolicyPatch | undefined, b: PolicyPatch): PolicyPatch {
  const classes: Partial<Record<ErrorKind, z.infer<typeof ClassPolicyPatch>>> = { ...a?.classes };
  for (const [k, v] of Object.entries(b.classes ?? {}) as Array<[ErrorKind, z.infer<typeof ClassPolicyPatch>]>) {
    classes[k] = { ...classes[k], ...v };
  }
  return { classes, park: b.park ?? a?.park };
}

function applyPatch(set: PolicySet, patch: PolicyPatch | undefined): PolicySet {
  if (!patch) return set;
  const classes = { ...set.classes };
  for (const [k, v] of Object.entries(patch.classes ?? {}) as Array<[ErrorKind, Partial<ClassPolicy>]>) {
    classes[k] = { ...classes[k], ...v };
  }
  return { classes, park: patch.park ?? set.park };
}

function checkSet(set: PolicySet, where: string): string[] {
  const issues: string[] = [];
  for (const [kind, p] of Object.entries(set.classes)) {
    if (p.maxDelayMs < p.baseDelayMs) issues.push(`${where}.${kind}: maxDelayMs < baseDelayMs`);
    if (p.action === 'retry' && p.maxAttempts < 1) issues.push(`${where}.${kind}: retry needs maxAttempts >= 1`);
    if (p.action === 'pause' && p.baseDelayMs < 1) issues.push(`${where}.${kind}: pause needs a delay`);
  }
  return issues;
}

export interface PolicyScope {
  service: string;
  consumer: string;
  /** CloudEvents type (= unprefixed subject); absent when the message could not be decoded. */
  messageType?: string;
}

/**
 * Resolves the policy set of a (service, consumer, message type) and memoizes it. `base` replaces the
 * built-in defaults (e.g. the topology's maxAttempts for a consumer).
 */
export class RetryPolicyResolver {
  private readonly cache = new Map<string, PolicySet>();

  constructor(
    private readonly config: RetryPoliciesConfig = {},
    private readonly base: (scope: PolicyScope) => PolicySet = () => DEFAULT_POLICY_SET,
  ) {}

  resolve(scope: PolicyScope): PolicySet {
    const key = `${scope.service}\u0000${scope.consumer}\u0000${scope.messageType ?? ''}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let set = this.base(scope);
    if (scope.messageType && DEFAULT_PARKED_TYPE_PREFIXES.some((p) => scope.messageType?.startsWith(p))) set = { ...set, park: true };
    set = applyPatch(set, this.config.defaults);
    set = applyPatch(set, this.config.services?.[scope.service]);
    // a stat twin inherits its routine consumer's policy, then its own entry (if any) on top
    const routine = routineDurable(scope.consumer);
    if (routine !== scope.consumer) set = applyPatch(set, this.config.consumers?.[routine]);
    set = applyPatch(set, this.config.consumers?.[scope.consumer]);
    if (scope.messageType) set = applyPatch(set, this.config.messageTypes?.[scope.messageType]);
    const issues = checkSet(set, `${scope.service}/${scope.consumer}/${scope.messageType ?? '*'}`);
    if (issues.length > 0) throw new RetryPolicyConfigError(issues);
    this.cache.set(key, set);
    return set;
  }

  /** Boot check: every consumer and configured message type resolves to a consistent set. */
  validate(service: string, consumers: readonly string[]): void {
    const types = Object.keys(this.config.messageTypes ?? {});
    for (const consumer of consumers) {
      this.resolve({ service, consumer });
      for (const messageType of types) this.resolve({ service, consumer, messageType });
    }
  }
}
