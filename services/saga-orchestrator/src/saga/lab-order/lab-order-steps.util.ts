import { SUBJECTS } from '@lifeline/contracts';
import type { NotificationFailedV1, NotificationKind, OrderPlacedV1 } from '@lifeline/contracts';
import { assertUnreachable } from '@lifeline/errors';

import { labOrderSagaError } from './lab-order.errors.js';

import type {
  AttentionFailure,
  Awaiting,
  Compensation,
  SagaCommand,
  SagaContext,
  LabOrderSagaStatus,
  SagaIgnoreReason,
  SagaInput,
  SagaOutcomeEvent,
  SagaState,
  SagaTransition,
} from './lab-order.saga.js';

// Pure building blocks of the lab-order saga: what it emits, and the steps several inputs share.
// Payloads carry ids and the patient reference receivers need, nothing more (the LIS finds its
// own order by orderId).

export interface ResultRef {
  resultId: string;
  critical: boolean;
}

// ---- messages -----------------------------------------------------------------------------

export function acceptOrderCommand(state: SagaState, commandId: string): SagaCommand {
  const { sagaId, orderId, placerOrderNumber, patient, tests, priority } = state;
  return {
    subject: SUBJECTS.commands.labAcceptOrder,
    priority,
    data: { sagaId, commandId, orderId, placerOrderNumber, patient, tests, priority },
  };
}

function compensationCommand(state: SagaState, { compensation, commandId }: { compensation: Compensation; commandId: string }): SagaCommand {
  switch (compensation.kind) {
    case 'cancel-at-lab':
      return {
        subject: SUBJECTS.commands.labCancelOrder,
        priority: state.priority,
        data: { sagaId: state.sagaId, commandId, orderId: state.orderId, reason: state.cancelReason },
      };
    case 'void-charge':
      return {
        subject: SUBJECTS.commands.billingVoidCharge,
        priority: state.priority,
        data: { sagaId: state.sagaId, commandId, orderId: state.orderId, chargeId: compensation.chargeId, reason: state.cancelReason },
      };
    default:
      return assertUnreachable(compensation);
  }
}

/** One line per ordered test: billing prices by code, the saga never sends amounts. */
export function createChargeCommand(state: SagaState, commandId: string): SagaCommand {
  const { sagaId, orderId, patient, tests } = state;
  return {
    subject: SUBJECTS.commands.billingCreateCharge,
    // Billing is never urgent: it stays in the routine lane even for stat orders.
    priority: 'routine',
    data: { sagaId, commandId, orderId, patientKey: patient.key, items: tests.map((t) => ({ code: t.code, quantity: 1 })) },
  };
}

export interface Notice {
  commandId: string;
  kind: NotificationKind;
  resultId?: string;
  critical: boolean;
}

export function notifyCommand(state: SagaState, notice: Notice): SagaCommand {
  const { sagaId, orderId, patient, orderingProviderId } = state;
  return {
    subject: SUBJECTS.commands.notifyClinician,
    // Critical values take the stat lane whatever the order's own priority was.
    priority: notice.critical ? 'stat' : state.priority,
    data: { sagaId, orderId, patient, orderingProviderId, ...notice },
  };
}

export function completedEvent(state: SagaState, at: string): SagaOutcomeEvent {
  return {
    subject: SUBJECTS.clinical.workflowLabOrderCompleted,
    data: { orderId: state.orderId, sagaId: state.sagaId, at },
  };
}

export function cancelledEvent(state: SagaState, at: string): SagaOutcomeEvent {
  return {
    subject: SUBJECTS.clinical.workflowLabOrderCancelled,
    data: { orderId: state.orderId, sagaId: state.sagaId, at, compensated: [...state.compensated] },
  };
}

export function rejectedEvent(state: SagaState, { reasonCode, at }: { reasonCode: string; at: string }): SagaOutcomeEvent {
  return {
    subject: SUBJECTS.clinical.workflowLabOrderRejected,
    data: { orderId: state.orderId, sagaId: state.sagaId, at, reasonCode },
  };
}

// ---- start ---------------------------------------------------------------------------------

/** Only a placement or a cancel may start a saga. */
export function startSaga(input: SagaInput, ctx: SagaContext): SagaTransition {
  switch (input.type) {
    case 'OrderPlaced': {
      const state = newSaga(input.data, 'awaiting-lab-acceptance');
      const command = acceptOrderCommand(state, ctx.newId());
      const awaiting: Awaiting = { commandId: command.data.commandId, kind: 'accept-order' };
      return { state: { ...state, awaiting }, commands: [command], events: [] };
    }
    case 'CancelRequested': {
      // Remembered so that the placement, when it comes, is not started but closed as cancelled.
      const { orderId, placerOrderNumber, patient } = input.data;
      const state = newSaga({ orderId, placerOrderNumber, patient, tests: [], priority: 'routine' }, 'cancelled');
      return { state: { ...state, placed: false, cancelRequested: true, cancelReason: input.data.reason }, commands: [], events: [] };
    }
    // Listed, not defaulted: a new input type must decide whether it may start a saga.
    case 'LabAccepted':
    case 'LabRejected':
    case 'ResultRecorded':
    case 'NotificationDelivered':
    case 'NotificationFailed':
    case 'LabCancelled':
    case 'LabCancelFailed':
    case 'ChargeCreated':
    case 'ChargeVoided':
    case 'ChargeFailed':
    case 'DeadlineExpired':
      throw labOrderSagaError('SAGA_NOT_FOUND', { input: input.type });
    default:
      return assertUnreachable(input);
  }
}

type SagaSeed = Pick<OrderPlacedV1, 'orderId' | 'placerOrderNumber' | 'patient' | 'tests' | 'priority' | 'orderingProviderId'>;

function newSaga(seed: SagaSeed, status: LabOrderSagaStatus): SagaState {
  const { orderId, placerOrderNumber, patient, tests, priority, orderingProviderId } = seed;
  return {
    sagaId: orderId,
    orderId,
    status,
    placed: true,
    patient,
    tests,
    priority,
    orderingProviderId,
    placerOrderNumber,
    seenResults: [],
    compensations: [],
    compensated: [],
    cancelRequested: false,
    overdueNotified: false,
  };
}

// ---- shared steps -------------------------------------------------------------------------

export const ignore = (state: SagaState, reason: SagaIgnoreReason): SagaTransition => ({
  state,
  commands: [],
  events: [],
  ignored: reason,
});

export function resultNotice(state: SagaState, { resultId, critical, commandId }: ResultRef & { commandId: string }): SagaCommand {
  const kind: NotificationKind = critical ? 'critical-result' : 'result-available';
  return notifyCommand(state, { commandId, kind, resultId, critical });
}

/** Failures already on record (a failed notice, say), so a later attention reason keeps them. */
export const priorFailures = (state: SagaState): AttentionFailure[] => state.attention?.failures ?? [];

export function noticeFailure(data: NotificationFailedV1): AttentionFailure {
  const failure: AttentionFailure = { step: 'notify-clinician', code: data.reasonCode, notice: data.kind };
  return data.commandId === undefined ? failure : { ...failure, commandId: data.commandId };
}

/** Tell the clinician about a result and wait for that delivery to complete the saga. */
export function notifyResult({ state, result, ctx }: { state: SagaState; result: ResultRef; ctx: SagaContext }): SagaTransition {
  const notice = resultNotice(state, { ...result, commandId: ctx.newId() });
  const awaiting: Awaiting = { commandId: notice.data.commandId, kind: 'notify-result' };
  const next: SagaState = { ...state, status: 'awaiting-notification', pendingResult: undefined, awaiting };
  return { state: next, commands: [notice], events: [], deadline: null };
}

/** Adds a critical-result notice to a transition: a lost critical value is a patient-safety event. */
export function withCriticalNotice({
  base,
  result,
  ctx,
}: {
  base: SagaTransition;
  result: ResultRef | undefined;
  ctx: SagaContext;
}): SagaTransition {
  if (result === undefined || !result.critical) return base;
  const notice = resultNotice(base.state, { ...result, commandId: ctx.newId() });
  return { ...base, commands: [...base.commands, notice], ignored: undefined };
}

/** Undo the top of the stack, or close the saga as cancelled once nothing is left to undo. */
export function compensateNext(state: SagaState, ctx: SagaContext): SagaTransition {
  const top = state.compensations.at(-1);
  if (top === undefined) return finishCancelled(state, ctx);
  // The entry stays on the stack until its undo is confirmed, so a failed undo is never lost.
  const command = compensationCommand(state, { compensation: top, commandId: ctx.newId() });
  const awaiting: Awaiting = { commandId: command.data.commandId, kind: top.kind };
  return { state: { ...state, status: 'compensating', awaiting }, commands: [command], events: [], deadline: null };
}

export function finishCancelled(state: SagaState, ctx: SagaContext): SagaTransition {
  const failures: AttentionFailure[] = (state.failedCompensations ?? []).map((f) => ({ step: f.kind, code: f.code }));
  // The orderer is told and the order closes as cancelled either way; a failed undo keeps the saga
  // in needs-attention with its reason, so it is never reported as cleanly cancelled.
  const closed: SagaState = { ...state, awaiting: undefined, pendingResult: undefined };
  const cancelled: SagaState =
    failures.length === 0
      ? { ...closed, status: 'cancelled' }
      : { ...closed, status: 'needs-attention', attention: { reason: 'compensation-failed', failures: [...priorFailures(state), ...failures] } };
  const notice = notifyCommand(cancelled, { commandId: ctx.newId(), kind: 'order-cancelled', critical: false });
  return { state: cancelled, commands: [notice], events: [cancelledEvent(cancelled, ctx.now)], deadline: null };
}
