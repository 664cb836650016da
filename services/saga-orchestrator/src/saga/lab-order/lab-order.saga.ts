import type {
  BillingChargeCreatedV1,
  BillingChargeFailedV1,
  BillingChargeVoidedV1,
  BillingCreateChargeV1,
  BillingVoidChargeV1,
  LabAcceptOrderV1,
  LabCancelFailedV1,
  LabCancelOrderV1,
  LabOrderAcceptedV1,
  LabOrderCancelledV1,
  LabOrderRejectedV1,
  LabResultRecordedV1,
  NotificationDeliveredV1,
  NotificationFailedV1,
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
  createChargeCommand,
  finishCancelled,
  ignore,
  notifyCommand,
  noticeFailure,
  notifyResult,
  priorFailures,
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
  | 'awaiting-billing'
  | 'completed'
  /** Clinically complete (clinician notified), but billing refused the charge: someone must bill by hand. */
  | 'completed-billing-failed'
  | 'compensating'
  | 'cancelled'
  | 'rejected'
  /**
   * A compensation, or the awaited result notice to the clinician, failed after its retry budget:
   * persisted with its reason, never silently closed or completed.
   */
  | 'needs-attention';

export type Compensation = { kind: 'cancel-at-lab'; lisOrderId: string } | { kind: 'void-charge'; chargeId: string };
export type CompensationKind = Compensation['kind'];

/** The one reply the saga waits for; any other reply is stale. */
export interface Awaiting {
  commandId: string;
  kind: 'accept-order' | 'notify-result' | 'create-charge' | CompensationKind;
}

/** One step that failed for good; a notice failure also says which notice and which command. */
export interface AttentionFailure {
  step: CompensationKind | 'create-charge' | 'notify-clinician';
  code: string;
  notice?: NotificationKind;
  commandId?: string;
}

/** Why a saga needs a human: the step that failed and the error code it reported. */
export interface Attention {
  reason: 'compensation-failed' | 'billing-failed' | 'clinician-notification-failed';
  failures: AttentionFailure[];
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
  chargeId?: string;
  /** Compensations whose undo failed for good; the saga ends in needs-attention if any. */
  failedCompensations?: { kind: CompensationKind; code: string }[];
  attention?: Attention;
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
  | In<'NotificationFailed', NotificationFailedV1>
  | In<'LabCancelled', LabOrderCancelledV1>
  | In<'LabCancelFailed', LabCancelFailedV1>
  | In<'ChargeCreated', BillingChargeCreatedV1>
  | In<'ChargeVoided', BillingChargeVoidedV1>
  | In<'ChargeFailed', BillingChargeFailedV1>
  | In<'DeadlineExpired', { kind: 'result-due'; at: string }>;

export interface SagaContext {
  now: string;
  newId: () => string;
  deadlines: {
    routineResultMs: number;
    statResultMs: number;
    /** On an overdue result: tell the clinician and keep waiting (default), or also cancel the order. */
    onOverdue?: 'escalate' | 'cancel';
  };
}

type Commands = typeof SUBJECTS.commands;
export type SagaCommand =
  | { subject: Commands['labAcceptOrder']; data: LabAcceptOrderV1; priority: Priority }
  | { subject: Commands['labCancelOrder']; data: LabCancelOrderV1; priority: Priority }
  | { subject: Commands['notifyClinician']; data: NotifyClinicianV1; priority: Priority }
  | { subject: Commands['billingCreateCharge']; data: BillingCreateChargeV1; priority: Priority }
  | { subject: Commands['billingVoidCharge']; data: BillingVoidChargeV1; priority: Priority };

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
  status === 'completed' || status === 'completed-billing-failed' || status === 'cancelled' || status === 'rejected';

/** Settled: nothing more will happen without a new input or a human (needs-attention). */
export const isSettled = (status: LabOrderSagaStatus): boolean => isTerminal(status) || status === 'needs-attention';

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
    case 'NotificationFailed':
      return onNotificationFailed({ state, data: input.data });
    case 'LabCancelled':
      return onLabCancelled({ state, data: input.data, ctx });
    case 'LabCancelFailed':
      return onCompensationFailed({ state, kind: 'cancel-at-lab', data: input.data, ctx });
    case 'ChargeCreated':
      return onChargeCreated({ state, data: input.data, ctx });
    case 'ChargeVoided':
      return onCompensationDone({ state, kind: 'void-charge', commandId: input.data.commandId, ctx });
    case 'ChargeFailed':
      return onChargeFailed({ state, data: input.data, ctx });
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
    case 'awaiting-billing':
      // The charge may be posted already: wait for billing's answer, then void it (onChargeCreated).
      return state.cancelRequested ? ignore(state, 'duplicate') : { state: cancelling, commands: [], events: [] };
    case 'completed':
    case 'completed-billing-failed':
      return ignore(state, 'too-late');
    case 'compensating':
    case 'cancelled':
    case 'needs-attention':
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
    case 'awaiting-billing':
    case 'completed':
    case 'completed-billing-failed': {
      // Amended (or additional) results after the clinician was told re-notify, never re-bill; the
      // saga keeps its status (and awaits the charge it already asked for).
      const notice = resultNotice(seen, { resultId, critical, commandId: ctx.newId() });
      return { state: seen, commands: [notice], events: [] };
    }
    case 'compensating':
    case 'cancelled':
    case 'rejected':
    case 'needs-attention':
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
  // The clinical part is done; billing is the last step and completion waits for its answer.
  const charge = createChargeCommand(state, ctx.newId());
  const awaiting: Awaiting = { commandId: charge.data.commandId, kind: 'create-charge' };
  return { state: { ...state, status: 'awaiting-billing', awaiting }, commands: [charge], events: [], deadline: null };
}

// The notifications service spent its retry budget on a notice (or the EHR refused it). The awaited
// result notice is a clinical step: the clinician does not know, so the saga neither bills nor
// completes but waits for a human. Any other notice failure is recorded without changing the status.
function onNotificationFailed({ state, data }: { state: SagaState; data: NotificationFailedV1 }): SagaTransition {
  const failure = noticeFailure(data);
  const seen = data.commandId !== undefined && priorFailures(state).some((f) => f.step === 'notify-clinician' && f.commandId === data.commandId);
  if (seen) return ignore(state, 'duplicate');
  const failures = [...priorFailures(state), failure];
  if (RESULT_KINDS.has(data.kind) && awaits(state, 'notify-result', data.commandId)) {
    const attention: Attention = { reason: 'clinician-notification-failed', failures };
    const stuck: SagaState = { ...state, status: 'needs-attention', awaiting: undefined, attention };
    return { state: stuck, commands: [], events: [], deadline: null };
  }
  const attention: Attention = { reason: state.attention?.reason ?? 'clinician-notification-failed', failures };
  return { state: { ...state, attention }, commands: [], events: [] };
}

function onChargeCreated({ state, data, ctx }: Step<BillingChargeCreatedV1>): SagaTransition {
  if (!awaits(state, 'create-charge', data.commandId)) return ignore(state, 'stale-reply');
  const charged: SagaState = {
    ...state,
    awaiting: undefined,
    chargeId: data.chargeId,
    compensations: [...state.compensations, { kind: 'void-charge', chargeId: data.chargeId }],
  };
  // A cancel arrived while the charge was on its way: undo in reverse, the charge first.
  if (charged.cancelRequested) return compensateNext(charged, ctx);
  const completed: SagaState = { ...charged, status: 'completed' };
  return { state: completed, commands: [], events: [completedEvent(completed, ctx.now)], deadline: null };
}

function onChargeFailed({ state, data, ctx }: Step<BillingChargeFailedV1>): SagaTransition {
  if (data.operation === 'void') return onCompensationFailed({ state, kind: 'void-charge', data, ctx });
  if (!awaits(state, 'create-charge', data.commandId)) return ignore(state, 'stale-reply');
  const settled: SagaState = { ...state, awaiting: undefined };
  // Nothing was charged, so nothing to void; the rest of the stack still has to be undone.
  if (settled.cancelRequested) return compensateNext(settled, ctx);
  // Billing never holds the clinical outcome hostage: the order completes, flagged for manual billing.
  // Earlier failed notices stay listed: an operator must see every step that failed.
  const attention: Attention = { reason: 'billing-failed', failures: [...priorFailures(state), { step: 'create-charge', code: data.reasonCode }] };
  const done: SagaState = { ...settled, status: 'completed-billing-failed', attention };
  return { state: done, commands: [], events: [completedEvent(done, ctx.now)], deadline: null };
}

function onLabCancelled({ state, data, ctx }: Step<LabOrderCancelledV1>): SagaTransition {
  return onCompensationDone({ state, kind: 'cancel-at-lab', commandId: data.commandId, ctx });
}

const compensationReplyIgnored = (state: SagaState): SagaTransition =>
  ignore(state, state.status === 'cancelled' || state.status === 'needs-attention' ? 'duplicate' : 'unexpected-reply');

function onCompensationDone({ state, kind, commandId, ctx }: { state: SagaState; kind: CompensationKind; commandId: string | undefined; ctx: SagaContext }): SagaTransition {
  if (state.status !== 'compensating') return compensationReplyIgnored(state);
  if (!awaits(state, kind, commandId)) return ignore(state, 'stale-reply');
  const done = state.compensations.at(-1);
  const popped: SagaState = {
    ...state,
    awaiting: undefined,
    compensations: state.compensations.slice(0, -1),
    compensated: done === undefined ? state.compensated : [...state.compensated, done.kind],
  };
  return compensateNext(popped, ctx);
}

// The service answering a compensation spent its own retry budget (or was refused for good). The
// failure is recorded, the rest of the stack is still undone, and the saga ends in needs-attention.
function onCompensationFailed({
  state,
  kind,
  data,
  ctx,
}: {
  state: SagaState;
  kind: CompensationKind;
  data: { commandId?: string; reasonCode: string };
  ctx: SagaContext;
}): SagaTransition {
  if (state.status !== 'compensating') return compensationReplyIgnored(state);
  if (!awaits(state, kind, data.commandId)) return ignore(state, 'stale-reply');
  const failed: SagaState = {
    ...state,
    awaiting: undefined,
    compensations: state.compensations.slice(0, -1),
    failedCompensations: [...(state.failedCompensations ?? []), { kind, code: data.reasonCode }],
  };
  return compensateNext(failed, ctx);
}

function onDeadlineExpired({ state, ctx }: Step<{ kind: 'result-due'; at: string }>): SagaTransition {
  // The runner applies inputs one at a time on a versioned row, so a deadline that raced a reply
  // lands here after the reply moved the saga on.
  if (state.status !== 'awaiting-result') return ignore(state, 'late-deadline');
  if (state.overdueNotified) return ignore(state, 'overdue-already-notified');
  const overdue: SagaState = { ...state, overdueNotified: true };
  const notice = notifyCommand(overdue, { commandId: ctx.newId(), kind: 'overdue-result', critical: false });
  if (ctx.deadlines.onOverdue === 'cancel') {
    // Policy: an overdue order is cancelled like an orderer's cancel, compensations and all.
    const undo = compensateNext({ ...overdue, cancelRequested: true, cancelReason: 'result-overdue' }, ctx);
    return { ...undo, commands: [notice, ...undo.commands] };
  }
  // Keep waiting for the result, without a second deadline: the clinician now knows.
  return { state: overdue, commands: [notice], events: [], deadline: null };
}
