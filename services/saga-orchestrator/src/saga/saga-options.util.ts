/** Injection token of the runner and deadline settings (from the service config). */
export const SAGA_OPTIONS = Symbol('SAGA_OPTIONS');

export interface SagaOptions {
  deadlines: { routineResultMs: number; statResultMs: number; onOverdue?: 'escalate' | 'cancel' };
  /** Deadline poll period in milliseconds. */
  deadlinePollMs: number;
  /** UNSAFE negative-control switch, see LabOrderSagaRunnerOptions; false in every real deployment. */
  unsafePublishCommandsDirectly?: boolean;
}
