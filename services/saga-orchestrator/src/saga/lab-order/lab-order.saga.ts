import type {
  LabAcceptOrderV1,
  LabCancelOrderV1,
  LabOrderAcceptedV1,
  LabOrderCancelledV1,
  LabOrderRejectedV1,
  LabResultRecordedV1,
  NotificationDeliveredV1,
  NotificationKind,
  NotifyClinicianV1,
  OrderCancelRequestedV1,
  OrderPlacedV1,
  Priority,
  SUBJECTS,
  WorkflowLabOrderCancelledV1,
  WorkflowLabOrderCompletedV1,
  WorkflowLabOrderRejectedV1,
} from '@lifeline/contracts';
import { assertUnreachable } from '@lifeline/errors';

import {
  cancelledEvent,
  compensateNext,
  completedEvent,
  finishCancelled,
  ignore,
  notifyCommand,
  notifyResult,
  rejectedEvent,
  resultNotice,
  startSaga,
  withCriticalNotice,
} from './lab-order-steps.util.js';

export const SAGA_TYPE = 'lab-order';

// ---- state --------------------------------------------------------------------------------

export type PatientRef = OrderPlacedV1['patient'];
export type CodedConcept = OrderPlacedV1['tests'][number];

export type LabOrderSagaStatus =
  | 'awaiting-lab-acceptance'
  | 'awaiting-result'
  | 'awaiting-notification'
  | 'completed'
  | 'compensating'
  | 'cancelled'
  | 'rejected';

export type Compensation = { kind: 'cancel-at-lab'; lisOrderId: string };
export type CompensationKind = Compensation['kind'];

/** The one reply the saga waits for; any other reply is stale. */
export interface Awaiting {
  commandId: string;
  kind: 'accept-order' | 'notify-result' | CompensationKind;
}

export interface SagaState {
  /** The order id: one saga per order, so it doubles as the correlation id. */
  sagaId: string;
  orderId: string;
  status: LabOrderSagaStatus;
  /** False while only a cancel has been seen: the placement is still on its way. */
  placed: boolean;
  patient: PatientRef;
  tests: CodedConcept[];
  priority: Priority;
  orderingProviderId?: string;
  placerOrderNumber: string;
  lisOrderId?: string;
  /** A result that overtook the lab's acceptance; notified once the acceptance arrives. */
  pendingResult?: { resultId: string; critical: boolean };
  seenResults: { resultId: string; resultStatus: string }[];
  /** Stack: the last pushed is undone first; an entry is popped only when its undo is confirmed. */
  compensations: Compensation[];
  compensated: CompensationKind[];
  awaiting?: Awaiting;
  /** Cancel arrived before the LIS accepted: nothing to undo until it does. */
  cancelRequested: boolean;
  cancelReason?: string;
  overdueNotified: boolean;
}

// ---- inputs and outputs -------------------------------------------------------------------

type In<T extends string, D> = { type: T; messageId: string; data: D };

export type SagaInput =
  | In<'OrderPlaced', OrderPlacedV1>
  | In<'CancelRequested', OrderCancelRequestedV1>
  | In<'LabAccepted', LabOrderAcceptedV1>
  | In<'LabRejected', LabOrderRejectedV1>
  | In<'ResultRecorded', LabResultRecordedV1>
  | In<'NotificationDelivered', NotificationDeliveredV1>
  | In<'LabCancelled', LabOrderCancelledV1>
  | In<'DeadlineExpired', { kind: 'result-due'; at: string }>;

export interface SagaContext {
  now: string;
  newId: () => string;
  deadlines: { routineResultMs: number; statResultMs: number };
}

type Commands = typeof SUBJECTS.commands;
export type SagaCommand =
  | { subject: Commands['labAcceptOrder']; data: LabAcceptOrderV1; priority: Priority }
  | { subject: Commands['labCancelOrder']; data: LabCancelOrderV1; priority: Priority }
  | { subject: Commands['notifyClinician']; data: NotifyClinicianV1; priority: Priority };

type Clinical = typeof SUBJECTS.clinical;
export type SagaOutcomeEvent =
  | { subject: Clinical['workflowLabOrderCompleted']; data: WorkflowLabOrderCompletedV1 }
  | { subject: Clinical['workflowLabOrderCancelled']; data: WorkflowLabOrderCancelledV1 }
  | { subject: Clinical['workflowLabOrderRejected']; data: WorkflowLabOrderRejectedV1 };

export interface SagaDeadline {
  at: string;
  kind: 'result-due';
}

export type SagaIgnoreReason =
  | 'duplicate'
  | 'stale-reply'
  | 'unexpected-reply'
  | 'informational-notification'
  | 'too-late'
  | 'already-rejected'
  | 'order-closed'
  | 'cancelled-before-placed'
  | 'late-deadline'
  | 'overdue-already-notified';

export interface SagaTransition {
  state: SagaState;
  commands: SagaCommand[];
  events: SagaOutcomeEvent[];
  /** undefined = leave as is, null = clear. */
  deadline?: SagaDeadline | null;
  /** Why nothing (or only an echo) happened, for the runner's history. */
  ignored?: SagaIgnoreReason;
}

export const isTerminal = (status: LabOrderSagaStatus): boolean =>
  status === 'completed' || status === 'cancelled' || status === 'rejected';

// ---- transition ---------------------------------------------------------------------------

interface Step<D> {
  state: SagaState;
  data: D;
  ctx: SagaContext;
}

export function transition(state: SagaState | null, input: SagaInput, ctx: SagaContext): SagaTransition {
  if (state === null) return startSaga(input, ctx);
  switch (input.type) {
    case 'OrderPlaced':
      return onOrderPlaced({ state, data: input.data, ctx });
    case 'CancelRequested':
      return onCancelRequested({ state, data: input.data, ctx });
    case 'LabAccepted':
      return onLabAccepted({ state, data: input.data, ctx });
    case 'LabRejected':
      return onLabRejected({ state, data: input.data, ctx });
    case 'ResultRecorded':
      return onResultRecorded({ state, data: input.data, ctx });
    case 'NotificationDelivered':
      return onNotificationDelivered({ state, data: input.data, ctx });
    case 'LabCancelled':
      return onLabCancelled({ state, data: input.data, ctx });
    case 'DeadlineExpired':
      return onDeadlineExpired({ state, data: input.data, ctx });
    default:
      return assertUnreachable(input);
  }
}

function onOrderPlaced({ state, data, ctx }: Step<OrderPlacedV1>): SagaTransition {
  if (state.placed) return ignore(state, 'duplicate');
  // The cancel overtook the placement: nothing was sent anywhere, but the order service now has
  // an order to close, so the outcome is published now.
  const { patient, tests, priority, orderingProviderId } = data;
  const placed: SagaState = { ...state, placed: true, patient, tests, priority, orderingProviderId };
  return { ...ignore(placed, 'cancelled-before-placed'), events: [cancelledEvent(placed, ctx.now)] };
}

function onCancelRequested({ state, data, ctx }: Step<OrderCancelRequestedV1>): SagaTransition {
  const cancelling: SagaState = { ...state, cancelRequested: true, cancelReason: data.reason };
  switch (state.status) {
    case 'awaiting-lab-acceptance':
      // Nothing to undo until the LIS says it accepted; see onLabAccepted.
      return state.cancelRequested ? ignore(state, 'duplicate') : { state: cancelling, commands: [], events: [] };
    case 'awaiting-result':
    case 'awaiting-notification':
      return compensateNext(cancelling, ctx);
    case 'completed':
      return ignore(state, 'too-late');
    case 'compensating':
    case 'cancelled':
      return ignore(state, 'duplicate');
    case 'rejected':
      return ignore(state, 'already-rejected');
    default:
      return assertUnreachable(state.status);
  }
}

// A reply without a commandId (the contract allows it) is matched by the kind awaited.
function awaits(state: SagaState, kind: Awaiting['kind'], commandId: string | undefined): boolean {
  return state.awaiting?.kind === kind && (commandId === undefined || commandId === state.awaiting.commandId);
}

function onLabAccepted({ state, data, ctx }: Step<LabOrderAcceptedV1>): SagaTransition {
  if (!awaits(state, 'accept-order', data.commandId)) return ignore(state, 'stale-reply');
  const { lisOrderId } = data;
  const accepted: SagaState = {
    ...state,
    lisOrderId,
    awaiting: undefined,
    compensations: [...state.compensations, { kind: 'cancel-at-lab', lisOrderId }],
  };
  if (accepted.cancelRequested) {
    const undo = compensateNext({ ...accepted, pendingResult: undefined }, ctx);
    return withCriticalNotice({ base: undo, result: state.pendingResult, ctx });
  }
  if (accepted.pendingResult !== undefined) return notifyResult({ state: accepted, result: accepted.pendingResult, ctx });
  const waitMs = state.priority === 'stat' ? ctx.deadlines.statResultMs : ctx.deadlines.routineResultMs;
  const at = new Date(Date.parse(ctx.now) + waitMs).toISOString();
  return { state: { ...accepted, status: 'awaiting-result' }, commands: [], events: [], deadline: { at, kind: 'result-due' } };
}

function onLabRejected({ state, data, ctx }: Step<LabOrderRejectedV1>): SagaTransition {
  if (!awaits(state, 'accept-order', data.commandId)) return ignore(state, 'stale-reply');
  const settled: SagaState = { ...state, awaiting: undefined };
  // The orderer asked to cancel and the lab holds nothing: their cancel is the outcome they expect.
  if (settled.cancelRequested) return finishCancelled(settled, ctx);
  const rejected: SagaState = { ...settled, status: 'rejected', pendingResult: undefined };
  const notice = notifyCommand(rejected, { commandId: ctx.newId(), kind: 'order-rejected', critical: false });
  const event = rejectedEvent(rejected, { reasonCode: data.reasonCode, at: ctx.now });
  return { state: rejected, commands: [notice], events: [event], deadline: null };
}

function onResultRecorded({ state, data, ctx }: Step<LabResultRecordedV1>): SagaTransition {
  const { resultId, resultStatus, critical } = data;
  // Same result again is a duplicate, unless it is a correction (OBR-25 = C) not seen before.
  const duplicate = state.seenResults.some(
    (r) => r.resultId === resultId && (resultStatus !== 'C' || r.resultStatus === 'C'),
  );
  if (duplicate) return ignore(state, 'duplicate');
  const seen: SagaState = { ...state, seenResults: [...state.seenResults, { resultId, resultStatus }] };
  switch (state.status) {
    case 'awaiting-lab-acceptance': {
      // A critical value seen once stays critical, even if a later version is not.
      const wasCritical = state.pendingResult?.critical ?? false;
      return { state: { ...seen, pendingResult: { resultId, critical: critical || wasCritical } }, commands: [], events: [] };
    }
    // While a notification is out, a newer result replaces it: completion waits for the latest.
    case 'awaiting-result':
    case 'awaiting-notification':
      return notifyResult({ state: seen, result: { resultId, critical }, ctx });
    case 'completed': {
      // Amended (or additional) results after completion re-notify; the saga stays completed.
      const notice = resultNotice(seen, { resultId, critical, commandId: ctx.newId() });
      return { state: seen, commands: [notice], events: [] };
    }
    case 'compensating':
    case 'cancelled':
    case 'rejected':
      // A lost critical result is a patient-safety event, even on a closed order.
      return withCriticalNotice({ base: ignore(seen, 'order-closed'), result: { resultId, critical }, ctx });
    default:
      return assertUnreachable(state.status);
  }
}

const RESULT_KINDS: ReadonlySet<NotificationKind> = new Set(['result-available', 'critical-result']);

function onNotificationDelivered({ state, data, ctx }: Step<NotificationDeliveredV1>): SagaTransition {
  const isResultNotice = RESULT_KINDS.has(data.kind);
  // Overdue, rejection and cancel notices are acknowledged but never complete the order.
  if (!isResultNotice) return ignore(state, 'informational-notification');
  if (!awaits(state, 'notify-result', data.commandId)) return ignore(state, 'stale-reply');
  const completed: SagaState = { ...state, status: 'completed', awaiting: undefined };
  return { state: completed, commands: [], events: [completedEvent(completed, ctx.now)], deadline: null };
}

function onLabCancelled({ state, data, ctx }: Step<LabOrderCancelledV1>): SagaTransition {
  if (state.status !== 'compensating') return ignore(state, state.status === 'cancelled' ? 'duplicate' : 'unexpected-reply');
  if (!awaits(state, 'cancel-at-lab', data.commandId)) return ignore(state, 'stale-reply');
  const done = state.compensations.at(-1);
  const popped: SagaState = {
    ...state,
    awaiting: undefined,
    compensations: state.compensations.slice(0, -1),
    compensated: done === undefined ? state.compensated : [...state.compensated, done.kind],
  };
  return compensateNext(popped, ctx);
}

function onDeadlineExpired({ state, ctx }: Step<{ kind: 'result-due'; at: string }>): SagaTransition {
  // The runner applies inputs one at a time on a versioned row, so a deadline that raced a reply
  // lands here after the reply moved the saga on.
  if (state.status !== 'awaiting-result') return ignore(state, 'late-deadline');
  if (state.overdueNotified) return ignore(state, 'overdue-already-notified');
  const overdue: SagaState = { ...state, overdueNotified: true };
  const notice = notifyCommand(overdue, { commandId: ctx.newId(), kind: 'overdue-result', critical: false });
  // Keep waiting for the result, without a second deadline: the clinician now knows.
  return { state: overdue, commands: [notice], events: [], deadline: null };
}
