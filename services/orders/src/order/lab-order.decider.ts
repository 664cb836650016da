import type { NotificationKind, Priority } from '@lifeline/contracts';
import { assertUnreachable } from '@lifeline/errors';

import { orderError } from './order.errors.js';

// TODO(event-store lib): move `Decider` to @lifeline/event-store once it exists there.
export interface Decider<State, Command, Event> {
  initialState: State;
  /** May throw AppError for invalid commands. */
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export const labOrderStreamId = (orderId: string): string => `lab-order-${orderId}`;

// ---- events -------------------------------------------------------------------------------

export interface OrderPlacedData {
  orderId: string;
  placerOrderNumber: string;
  placerNamespace?: string;
  fillerOrderNumber?: string;
  sourceSystem: string;
  patientKey: string;
  /** Test codes only; descriptive text stays in the canonical event. */
  tests: string[];
  priority: Priority;
  orderedAt?: string;
  placedAt: string;
}

export type LabOrderEvent =
  | { type: 'OrderPlaced'; data: OrderPlacedData }
  | { type: 'OrderCancelRequested'; data: { reason?: string; at: string } }
  | { type: 'LabAccepted'; data: { lisOrderId: string; at: string } }
  | { type: 'LabRejected'; data: { reasonCode: string; at: string } }
  | {
      type: 'ResultRecorded';
      data: { resultId: string; resultStatus: string; critical: boolean; at: string };
    }
  | {
      type: 'ClinicianNotified';
      data: { notificationId: string; kind: NotificationKind; at: string };
    }
  | { type: 'OrderCompleted'; data: { at: string } }
  | { type: 'OrderCancelled'; data: { at: string } }
  | { type: 'OrderRejected'; data: { reasonCode: string; at: string } };

// ---- commands -----------------------------------------------------------------------------

/** Every command names its order (so a mis-routed command is caught) and when it happened. */
interface OrderRef {
  orderId: string;
  at: string;
}

export type PlaceOrderData = Omit<OrderPlacedData, 'placedAt'> & { at: string };

export type LabOrderCommand =
  | { type: 'PlaceOrder'; data: PlaceOrderData }
  | { type: 'RequestCancel'; data: OrderRef & { reason?: string } }
  | { type: 'RecordLabAccepted'; data: OrderRef & { lisOrderId: string } }
  | { type: 'RecordLabRejected'; data: OrderRef & { reasonCode: string } }
  | {
      type: 'RecordResult';
      data: OrderRef & { resultId: string; resultStatus: string; critical: boolean };
    }
  | {
      type: 'RecordClinicianNotified';
      data: OrderRef & { notificationId: string; kind: NotificationKind };
    }
  | { type: 'Complete'; data: OrderRef }
  | { type: 'ConfirmCancelled'; data: OrderRef }
  | { type: 'ConfirmRejected'; data: OrderRef & { reasonCode: string } };

type FollowUpCommand = Exclude<LabOrderCommand, { type: 'PlaceOrder' }>;

// ---- state --------------------------------------------------------------------------------

export type LabOrderStatus =
  | 'none'
  | 'placed'
  | 'accepted'
  | 'resulted'
  | 'notified'
  | 'completed'
  | 'cancel-requested'
  | 'cancelled'
  | 'rejected';

export interface RecordedResult {
  resultId: string;
  status: string;
  critical: boolean;
}

export interface PlacedLabOrder {
  status: Exclude<LabOrderStatus, 'none'>;
  orderId: string;
  placerOrderNumber: string;
  patientKey: string;
  priority: Priority;
  lisOrderId?: string;
  /** The LIS said no; the order turns `rejected` when the saga confirms it. */
  labRejectionCode?: string;
  results: RecordedResult[];
  notifications: string[];
  /** Stays true after a terminal status: "cancel came too late" is evidence too. */
  cancelRequested: boolean;
}

export type LabOrderState = { status: 'none' } | PlacedLabOrder;

const TERMINAL: ReadonlySet<LabOrderStatus> = new Set(['completed', 'cancelled', 'rejected']);

export const isTerminalOrderStatus = (status: LabOrderStatus): boolean => TERMINAL.has(status);

// Facts arrive on different consumers, so out of order: status only ever moves up this ladder.
type ProgressStatus = 'placed' | 'accepted' | 'resulted' | 'notified';
const PROGRESS_RANK: Record<ProgressStatus, number> = { placed: 0, accepted: 1, resulted: 2, notified: 3 };

const isProgress = (status: LabOrderStatus): status is ProgressStatus => status in PROGRESS_RANK;

function advance(current: PlacedLabOrder['status'], target: ProgressStatus): PlacedLabOrder['status'] {
  // cancel-requested and terminal statuses are not on the ladder: progress facts never leave them.
  if (!isProgress(current)) return current;
  return PROGRESS_RANK[current] < PROGRESS_RANK[target] ? target : current;
}

// Only a result notification means "the clinician knows"; overdue/cancel/reject notices do not.
const RESULT_NOTIFICATION_KINDS: ReadonlySet<NotificationKind> = new Set([
  'result-available',
  'critical-result',
]);

// ---- decide -------------------------------------------------------------------------------

function decide(command: LabOrderCommand, state: LabOrderState): LabOrderEvent[] {
  if (command.type === 'PlaceOrder') {
    // A re-sent ORM for an existing order is harmless: no second order.
    if (state.status !== 'none') return [];
    const { at, ...order } = command.data;
    return [{ type: 'OrderPlaced', data: { ...order, placedAt: at } }];
  }
  if (state.status === 'none') throw orderError('ORDER_NOT_FOUND', { orderId: command.data.orderId });
  if (command.data.orderId !== state.orderId) {
    throw orderError('ORDER_ID_MISMATCH', { orderId: state.orderId, commandOrderId: command.data.orderId });
  }
  return decideFollowUp(command, state);
}

function decideFollowUp(command: FollowUpCommand, state: PlacedLabOrder): LabOrderEvent[] {
  const { at } = command.data;
  const closed = isTerminalOrderStatus(state.status);
  switch (command.type) {
    case 'RequestCancel':
      return requestCancel(command.data, state);
    case 'RecordLabAccepted':
      return recordLabAccepted(command.data, state);
    case 'RecordLabRejected':
      if (closed || state.labRejectionCode !== undefined) return [];
      return [{ type: 'LabRejected', data: { reasonCode: command.data.reasonCode, at } }];
    case 'RecordResult':
      return recordResult(command.data, state);
    case 'RecordClinicianNotified': {
      const { notificationId, kind } = command.data;
      if (closed || state.notifications.includes(notificationId)) return [];
      return [{ type: 'ClinicianNotified', data: { notificationId, kind, at } }];
    }
    // The saga's outcome is authoritative, also over a cancel-requested order (it may have seen
    // the cancel too late, or before this service did).
    case 'Complete':
      return closed ? [] : [{ type: 'OrderCompleted', data: { at } }];
    case 'ConfirmCancelled':
      return closed ? [] : [{ type: 'OrderCancelled', data: { at } }];
    case 'ConfirmRejected':
      return closed ? [] : [{ type: 'OrderRejected', data: { reasonCode: command.data.reasonCode, at } }];
    default:
      return assertUnreachable(command);
  }
}

function requestCancel(data: OrderRef & { reason?: string }, state: PlacedLabOrder): LabOrderEvent[] {
  // A cancel after completion is too late for the workflow (the saga ignores it as 'too-late') but is
  // evidence: recorded, status stays completed. Refusing it would dead-letter the message and park
  // this patient's later messages on the consumer behind an operator.
  if (state.cancelRequested || (isTerminalOrderStatus(state.status) && state.status !== 'completed')) return [];
  return [{ type: 'OrderCancelRequested', data: { reason: data.reason, at: data.at } }];
}

function recordLabAccepted(data: OrderRef & { lisOrderId: string }, state: PlacedLabOrder): LabOrderEvent[] {
  if (isTerminalOrderStatus(state.status) || state.lisOrderId === data.lisOrderId) return [];
  if (state.lisOrderId !== undefined) {
    throw orderError('ORDER_LIS_ID_CONFLICT', {
      orderId: state.orderId,
      lisOrderId: state.lisOrderId,
      conflictingLisOrderId: data.lisOrderId,
    });
  }
  return [{ type: 'LabAccepted', data: { lisOrderId: data.lisOrderId, at: data.at } }];
}

function recordResult(
  data: OrderRef & { resultId: string; resultStatus: string; critical: boolean },
  state: PlacedLabOrder,
): LabOrderEvent[] {
  const { resultId, resultStatus, critical, at } = data;
  if (state.results.some((r) => r.resultId === resultId && r.status === resultStatus)) return [];
  // A corrected result (OBR-25 = C) after completion must still be on the order's record.
  const amendsCompleted = state.status === 'completed' && resultStatus === 'C';
  if (isTerminalOrderStatus(state.status) && !amendsCompleted) return [];
  return [{ type: 'ResultRecorded', data: { resultId, resultStatus, critical, at } }];
}

// ---- evolve -------------------------------------------------------------------------------

function evolve(state: LabOrderState, event: LabOrderEvent): LabOrderState {
  if (event.type === 'OrderPlaced') return state.status === 'none' ? fromPlaced(event.data) : state;
  // A stream always starts with OrderPlaced; anything else on an empty state is not ours to invent.
  if (state.status === 'none') return state;
  return evolvePlaced(state, event);
}

function fromPlaced(data: OrderPlacedData): PlacedLabOrder {
  const { orderId, placerOrderNumber, patientKey, priority } = data;
  return {
    status: 'placed',
    orderId,
    placerOrderNumber,
    patientKey,
    priority,
    results: [],
    notifications: [],
    cancelRequested: false,
  };
}

function evolvePlaced(state: PlacedLabOrder, event: Exclude<LabOrderEvent, { type: 'OrderPlaced' }>): PlacedLabOrder {
  switch (event.type) {
    case 'OrderCancelRequested':
      return {
        ...state,
        cancelRequested: true,
        status: isTerminalOrderStatus(state.status) ? state.status : 'cancel-requested',
      };
    case 'LabAccepted':
      return { ...state, lisOrderId: event.data.lisOrderId, status: advance(state.status, 'accepted') };
    case 'LabRejected':
      return { ...state, labRejectionCode: event.data.reasonCode };
    case 'ResultRecorded': {
      const { resultId, resultStatus, critical } = event.data;
      const results = [...state.results, { resultId, status: resultStatus, critical }];
      return { ...state, results, status: advance(state.status, 'resulted') };
    }
    case 'ClinicianNotified': {
      const notifications = [...state.notifications, event.data.notificationId];
      const informs = RESULT_NOTIFICATION_KINDS.has(event.data.kind);
      return { ...state, notifications, status: informs ? advance(state.status, 'notified') : state.status };
    }
    case 'OrderCompleted':
      return { ...state, status: 'completed' };
    case 'OrderCancelled':
      return { ...state, status: 'cancelled' };
    case 'OrderRejected':
      return { ...state, status: 'rejected' };
    default:
      return assertUnreachable(event);
  }
}

export const labOrderDecider: Decider<LabOrderState, LabOrderCommand, LabOrderEvent> = {
  initialState: { status: 'none' },
  decide,
  evolve,
};
