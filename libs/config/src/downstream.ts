import { z } from 'zod';

/** Guard settings of one downstream system (breaker, rate limit, concurrency cap). */
export interface DownstreamGuardSettings {
  breakerEnabled: boolean;
  breakerFailures: number;
  breakerOpenMs: number;
  ratePerSecond: number;
  maxConcurrency: number;
}

function guardFields(defaults: { ratePerSecond: number; maxConcurrency: number }) {
  return {
    /** Off only as a negative control: every call then reaches a downstream that is down. */
    BREAKER_ENABLED: z.stringbool().default(true),
    /** Consecutive failures (timeouts, 5xx, 429) that open the breaker. */
    BREAKER_FAILURES: z.coerce.number().int().min(1).max(1_000).default(5),
    /** How long the breaker stays open; also the half-open probe interval while the system stays down. */
    BREAKER_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    RATE_PER_S: z.coerce.number().positive().max(10_000).default(defaults.ratePerSecond),
    MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(defaults.maxConcurrency),
  };
}

type GuardFields = ReturnType<typeof guardFields>;
type Prefixed<P extends string, T> = { [K in keyof T as `${P}_${K & string}`]: T[K] };

/** The environment keys `<PREFIX>_BREAKER_ENABLED`, `_BREAKER_FAILURES`, `_BREAKER_OPEN_MS`, `_RATE_PER_S`, `_MAX_CONCURRENCY`. */
export function downstreamGuardEnv<P extends string>(prefix: P, defaults: { ratePerSecond: number; maxConcurrency: number }): Prefixed<P, GuardFields> {
  return Object.fromEntries(Object.entries(guardFields(defaults)).map(([k, v]) => [`${prefix}_${k}`, v])) as Prefixed<P, GuardFields>;
}

type GuardValues = { [K in keyof GuardFields]: z.output<GuardFields[K]> };

/** Parsed `<PREFIX>_*` guard keys → settings. */
export function mapDownstreamGuard<P extends string>(prefix: P, env: Prefixed<P, GuardValues>): DownstreamGuardSettings {
  const read = <K extends keyof GuardValues>(key: K): GuardValues[K] => (env as Record<string, unknown>)[`${prefix}_${key}`] as GuardValues[K];
  return {
    breakerEnabled: read('BREAKER_ENABLED'),
    breakerFailures: read('BREAKER_FAILURES'),
    breakerOpenMs: read('BREAKER_OPEN_MS'),
    ratePerSecond: read('RATE_PER_S'),
    maxConcurrency: read('MAX_CONCURRENCY'),
  };
}
