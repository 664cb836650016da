import { describeError, isAppError } from '@lifeline/errors';

/** How a consumer retries. Delays are delayed naks: JetStream's max_deliver never burns out in ms. */
export interface RetryPolicy {
  /** Deliveries before the message is dead-lettered (the last failing attempt dead-letters). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** full: [0, cap]; equal: [cap/2, cap] (delays never shrink); none: cap. */
  jitter: 'full' | 'equal' | 'none';
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  jitter: 'equal',
};

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

export type ErrorClass = 'transient' | 'permanent' | 'unknown';

export type AckDecision =
  | { action: 'ack' }
  | { action: 'nak'; delayMs: number; errorClass: ErrorClass; code: string }
  | { action: 'dead-letter'; errorClass: ErrorClass; code: string; message: string; reason: 'permanent' | 'attempts-exhausted' };

/**
 * Handler outcome → acknowledgment. Retryable AppErrors and unknown errors get a delayed nak until
 * the attempts run out; non-retryable AppErrors are dead-lettered at once.
 */
export function decideAck(params: { error?: unknown; deliveryCount: number; policy: RetryPolicy; random?: () => number }): AckDecision {
  if (params.error === undefined) return { action: 'ack' };
  const { code, message, retryable } = describeError(params.error);
  const errorClass: ErrorClass = isAppError(params.error) ? (retryable ? 'transient' : 'permanent') : 'unknown';
  if (errorClass === 'permanent') {
    return { action: 'dead-letter', errorClass, code, message, reason: 'permanent' };
  }
  if (params.deliveryCount >= params.policy.maxAttempts) {
    return { action: 'dead-letter', errorClass, code, message, reason: 'attempts-exhausted' };
  }
  return { action: 'nak', delayMs: backoffDelay(params.policy, params.deliveryCount, params.random), errorClass, code };
}
