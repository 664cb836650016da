import type { z } from 'zod';

export const TARGETS = ['lis', 'ehr', 'billing'] as const;
export type Target = (typeof TARGETS)[number];

export type JsonBody = Record<string, unknown>;

/** A flat, PHI-light summary of an effect, for tests to group and count by. */
export type EffectAttributes = Record<string, string | number | boolean | null>;

/**
 * What a feature handler decided. `effect` creates something new in the simulated system;
 * `answer` does not, and `remember` says whether a retry with the same key replays it
 * (a deterministic business answer) or is evaluated again (e.g. a 404 for an unknown id).
 */
export type HandlerResult =
  | {
      kind: 'effect';
      status: number;
      body: JsonBody;
      effect: { resourceId: string; attributes: EffectAttributes };
    }
  | { kind: 'answer'; status: number; body: JsonBody; remember: boolean };

/** What the HTTP edge must do with the request. */
export type Outcome =
  | {
      kind: 'reply';
      status: number;
      body: JsonBody;
      headers: Record<string, string>;
    }
  // `timeout` fault: keep the socket open until the client gives up or the app shuts down.
  | { kind: 'hold' }
  // The app is shutting down while the request was being delayed: cut the connection.
  | { kind: 'drop' };

export interface ExchangeRequest<T> {
  target: Target;
  /** Scopes idempotency keys, e.g. `lis.place-order`: one key may be reused across operations. */
  operation: string;
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  requireIdempotencyKey: boolean;
  body: unknown;
  schema: z.ZodType<T>;
  handle: (input: T) => HandlerResult;
}
