import { describeError, errorKindOf, isAppError, type ErrorKind } from '@lifeline/errors';

/** How a consumer retries. Delays are delayed naks: JetStream's max_deliver never burns out in ms. */
export interface RetryPolicy {
  /** Deliveries before the message is dead-lettered (the last failing attempt dead-letters). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** full: [0, cap]; equal: [cap/2, cap] (delays never shrink); none: cap. */
  jitter: 'full' | 'equal' | 'none';
}

/**
 * What the transport does with a failure of one error kind:
 * - retry: delayed nak with exponential backoff; `maxAttempts` failures of this kind, then dead-letter;
 * - pause: the downstream is down (an open breaker): delayed nak with a long delay that does not
 *   consume the retry budget of the other kinds; `maxAttempts` 0 = pause without limit;
 * - dead-letter: at once (retrying cannot help);
 * - escalate: dead-letter at once, marked for the saga/operator to compensate.
 */
export const RETRY_ACTIONS = ['retry', 'pause', 'dead-letter', 'escalate'] as const;
export type RetryAction = (typeof RETRY_ACTIONS)[number];

export interface ClassPolicy extends RetryPolicy {
  action: RetryAction;
}

/** Everything the transport needs to settle a failure: one policy per error kind, plus parking. */
export interface PolicySet {
  classes: Record<ErrorKind, ClassPolicy>;
  /** Whether a dead-lettered message parks its patient's later messages (per-patient ordering). */
  park: boolean;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  jitter: 'full',
};

const minute = 60_000;

/** Built-in defaults; configuration (RETRY_POLICIES) is merged over them. */
export const DEFAULT_POLICY_SET: PolicySet = {
  classes: {
    transient: { action: 'retry', ...DEFAULT_RETRY_POLICY },
    // a rate limit clears slower than a blip: wait longer, try more often before giving up
    throttled: { action: 'retry', maxAttempts: 10, baseDelayMs: 2_000, maxDelayMs: 2 * minute, jitter: 'full' },
    // an open breaker: wait for the downstream, without burning the message's retry budget
    'downstream-unavailable': { action: 'pause', maxAttempts: 0, baseDelayMs: minute, maxDelayMs: 5 * minute, jitter: 'equal' },
    validation: { action: 'dead-letter', maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, jitter: 'none' },
    poison: { action: 'dead-letter', maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, jitter: 'none' },
    // credentials or consent: no retry fixes it, the workflow must compensate (saga) or an operator act
    unauthorized: { action: 'escalate', maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, jitter: 'none' },
    unknown: { action: 'retry', ...DEFAULT_RETRY_POLICY },
  },
  park: false,
};

/** The legacy single policy (per consumer) applied to the retried kinds of the defaults. */
export function policySetFrom(policy: RetryPolicy, base: PolicySet = DEFAULT_POLICY_SET): PolicySet {
  return {
    ...base,
    classes: {
      ...base.classes,
      transient: { ...base.classes.transient, ...policy, action: 'retry' },
      unknown: { ...base.classes.unknown, ...policy, action: 'retry' },
    },
  };
}

/** Upper bound of the delay after failed attempt `attempt` (1-based): base·2^(attempt−1), capped. */
export function backoffCap(policy: RetryPolicy, attempt: number): number {
  const exp = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(policy.maxDelayMs, exp);
}

export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const cap = backoffCap(policy, attempt);
  switch (policy.jitter) {
    case 'full':
      return Math.floor(random() * cap);
    case 'equal':
      return Math.floor(cap / 2 + random() * (cap / 2));
    case 'none':
      return cap;
  }
}

/** Coarse class kept in dead letters and metrics (DeadLetterV1.error.class). */
export type ErrorClass = 'transient' | 'permanent' | 'unknown';

export function errorClassOf(kind: ErrorKind): ErrorClass {
  switch (kind) {
    case 'transient':
    case 'throttled':
    case 'downstream-unavailable':
      return 'transient';
    case 'validation':
    case 'poison':
    case 'unauthorized':
      return 'permanent';
    case 'unknown':
      return 'unknown';
  }
}

/** One failed delivery, as kept in the attempts store and the dead letter. */
export interface AttemptRecord {
  at: string;
  deliveryCount: number;
  kind?: ErrorKind;
  code?: string;
  /** The redelivery delay chosen after this attempt (absent on the last one). */
  delayMs?: number;
}

export type DeadLetterReason = 'permanent' | 'attempts-exhausted' | 'escalate' | 'max-deliveries';

export type AckDecision =
  | { action: 'ack' }
  | { action: 'nak'; delayMs: number; errorClass: ErrorClass; kind: ErrorKind; code: string; attempt: number; countsAgainstBudget: boolean }
  | { action: 'dead-letter'; errorClass: ErrorClass; kind: ErrorKind; code: string; message: string; reason: DeadLetterReason; attempt: number };

/**
 * Handler outcome → acknowledgment, by the error's kind and its class policy. The attempt number of a
 * kind is the failures of that kind in `history` (which survives restarts) plus this one; without a
 * history the broker's delivery count stands in (it over-counts after pauses: never under-counts).
 */
export function decideAck(params: {
  error?: unknown;
  deliveryCount: number;
  /** Legacy: one policy for the retried kinds (transient, unknown). */
  policy?: RetryPolicy;
  policies?: PolicySet;
  history?: readonly AttemptRecord[];
  random?: () => number;
}): AckDecision {
  if (params.error === undefined) return { action: 'ack' };
  const set = params.policies ?? (params.policy ? policySetFrom(params.policy) : DEFAULT_POLICY_SET);
  const { code, message } = describeError(params.error);
  const kind = errorKindOf(params.error);
  const errorClass = errorClassOf(kind);
  const cls = set.classes[kind];
  const attempt = params.history ? params.history.filter((a) => (a.kind ?? 'unknown') === kind).length + 1 : params.deliveryCount;
  switch (cls.action) {
    case 'dead-letter':
      return { action: 'dead-letter', errorClass, kind, code, message, reason: 'permanent', attempt };
    case 'escalate':
      return { action: 'dead-letter', errorClass, kind, code, message, reason: 'escalate', attempt };
    case 'pause': {
      if (cls.maxAttempts > 0 && attempt >= cls.maxAttempts) {
        return { action: 'dead-letter', errorClass, kind, code, message, reason: 'attempts-exhausted', attempt };
      }
      // a breaker / rate limiter knows when to come back (details.retryAfterMs): trust it, capped
      const hint = retryAfterHint(params.error);
      const delayMs = hint !== undefined ? Math.min(cls.maxDelayMs, hint) : backoffDelay(cls, attempt, params.random);
      return { action: 'nak', delayMs, errorClass, kind, code, attempt, countsAgainstBudget: false };
    }
    case 'retry': {
      if (attempt >= cls.maxAttempts) {
        return { action: 'dead-letter', errorClass, kind, code, message, reason: 'attempts-exhausted', attempt };
      }
      return { action: 'nak', delayMs: backoffDelay(cls, attempt, params.random), errorClass, kind, code, attempt, countsAgainstBudget: true };
    }
  }
}

function retryAfterHint(err: unknown): number | undefined {
  if (!isAppError(err)) return undefined;
  const hint = err.details.retryAfterMs;
  return typeof hint === 'number' && Number.isFinite(hint) && hint > 0 ? Math.ceil(hint) : undefined;
}
