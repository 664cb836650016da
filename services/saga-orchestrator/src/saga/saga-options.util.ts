/** Injection token of the runner and deadline settings (from the service config). */
export const SAGA_OPTIONS = Symbol('SAGA_OPTIONS');

export interface SagaOptions {
  deadlines: { routineResultMs: number; statResultMs: number };
  /** Deadline poll period in milliseconds. */
  deadlinePollMs: number;
}
