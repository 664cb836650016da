import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { labOrderDecider, labOrderStreamId } from './lab-order.decider.js';
import type { LabOrderCommand, LabOrderEvent, LabOrderState } from './lab-order.decider.js';
import { ORDER_ERROR_CODES, orderError } from './order.errors.js';
import type { OrderErrorCode } from './order.errors.js';

// ---- given / when / then -------------------------------------------------------------------

function given(...history: LabOrderEvent[]) {
  const state = history.reduce(labOrderDecider.evolve, labOrderDecider.initialState);
  return {
    when(command: LabOrderCommand) {
      const run = (): LabOrderEvent[] => labOrderDecider.decide(command, state);
      return {
        then(expected: LabOrderEvent[]) {
          const events = run();
          expect(events).toEqual(expected);
          return {
            andState(partial: Partial<Record<string, unknown>>): void {
              const next: LabOrderState = events.reduce(labOrderDecider.evolve, state);
              expect(next).toMatchObject(partial);
            },
          };
        },
        thenNothing(): void {
          expect(run()).toEqual([]);
        },
        thenThrows(code: OrderErrorCode, retryable: boolean): void {
          let thrown: unknown;
          try {
            run();
          } catch (err) {
            thrown = err;
          }
          expect(isAppError(thrown, code)).toBe(true);
          expect(isAppError(thrown) && thrown.retryable).toBe(retryable);
        },
      };
    },
  };
}

// ---- fixtures ------------------------------------------------------------------------------

const orderId = 'ord-1';
const T = (minute: number): string => `2025-03-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

const order = {
  orderId,
  placerOrderNumber: 'PON-1',
  placerNamespace: 'EHR',
  sourceSystem: 'EHR^HOSP',
  patientKey: 'pk-0123456789',
  tests: ['2345-7'],
  priority: 'routine' as const,
  orderedAt: T(0),
};

const cmd = {
  place: (): LabOrderCommand => ({ type: 'PlaceOrder', data: { ...order, at: T(1) } }),
  cancel: (): LabOrderCommand => ({ type: 'RequestCancel', data: { orderId, reason: 'CA', at: T(5) } }),
  accept: (lisOrderId = 'LIS-1'): LabOrderCommand => ({ type: 'RecordLabAccepted', data: { orderId, lisOrderId, at: T(2) } }),
  reject: (): LabOrderCommand => ({ type: 'RecordLabRejected', data: { orderId, reasonCode: 'AR', at: T(2) } }),
  result: (resultStatus = 'F', resultId = 'res-1', critical = false): LabOrderCommand => ({
    type: 'RecordResult',
    data: { orderId, resultId, resultStatus, critical, at: T(3) },
  }),
  notified: (notificationId = 'n-1', kind: 'result-available' | 'overdue-result' = 'result-available'): LabOrderCommand => ({
    type: 'RecordClinicianNotified',
    data: { orderId, notificationId, kind, at: T(4) },
  }),
  complete: (): LabOrderCommand => ({ type: 'Complete', data: { orderId, at: T(6) } }),
  confirmCancelled: (): LabOrderCommand => ({ type: 'ConfirmCancelled', data: { orderId, at: T(6) } }),
  confirmRejected: (): LabOrderCommand => ({ type: 'ConfirmRejected', data: { orderId, reasonCode: 'AR', at: T(6) } }),
};

const ev = {
  placed: (): LabOrderEvent => ({ type: 'OrderPlaced', data: { ...order, placedAt: T(1) } }),
  cancelRequested: (): LabOrderEvent => ({ type: 'OrderCancelRequested', data: { reason: 'CA', at: T(5) } }),
  accepted: (lisOrderId = 'LIS-1'): LabOrderEvent => ({ type: 'LabAccepted', data: { lisOrderId, at: T(2) } }),
  labRejected: (): LabOrderEvent => ({ type: 'LabRejected', data: { reasonCode: 'AR', at: T(2) } }),
  result: (resultStatus = 'F', resultId = 'res-1', critical = false): LabOrderEvent => ({
    type: 'ResultRecorded',
    data: { resultId, resultStatus, critical, at: T(3) },
  }),
  notified: (notificationId = 'n-1', kind: 'result-available' | 'overdue-result' = 'result-available'): LabOrderEvent => ({
    type: 'ClinicianNotified',
    data: { notificationId, kind, at: T(4) },
  }),
  completed: (): LabOrderEvent => ({ type: 'OrderCompleted', data: { at: T(6) } }),
  cancelled: (): LabOrderEvent => ({ type: 'OrderCancelled', data: { at: T(6) } }),
  rejected: (): LabOrderEvent => ({ type: 'OrderRejected', data: { reasonCode: 'AR', at: T(6) } }),
};

const completedOrder = [ev.placed(), ev.accepted(), ev.result(), ev.notified(), ev.completed()];

// ---- specs ---------------------------------------------------------------------------------

describe('lab order decider', () => {
  describe('placement', () => {
    it('places a new order', () => {
      given()
        .when(cmd.place())
        .then([ev.placed()])
        .andState({ status: 'placed', orderId, patientKey: order.patientKey, results: [], cancelRequested: false });
    });

    it('ignores a duplicate ORM for an existing order', () => {
      given(ev.placed()).when(cmd.place()).thenNothing();
      given(...completedOrder).when(cmd.place()).thenNothing();
    });

    it.each([
      ['RequestCancel', cmd.cancel()],
      ['RecordLabAccepted', cmd.accept()],
      ['RecordLabRejected', cmd.reject()],
      ['RecordResult', cmd.result()],
      ['RecordClinicianNotified', cmd.notified()],
      ['Complete', cmd.complete()],
      ['ConfirmCancelled', cmd.confirmCancelled()],
      ['ConfirmRejected', cmd.confirmRejected()],
    ])('%s before the placement arrived is retryable ORDER_NOT_FOUND', (_name, command) => {
      given().when(command).thenThrows('ORDER_NOT_FOUND', true);
    });

    it('refuses a command routed to another order stream', () => {
      given(ev.placed())
        .when({ type: 'Complete', data: { orderId: 'ord-2', at: T(6) } })
        .thenThrows('ORDER_ID_MISMATCH', false);
    });
  });

  describe('progress', () => {
    it('walks accepted → resulted → notified → completed', () => {
      given(ev.placed()).when(cmd.accept()).then([ev.accepted()]).andState({ status: 'accepted', lisOrderId: 'LIS-1' });
      given(ev.placed(), ev.accepted()).when(cmd.result()).then([ev.result()]).andState({ status: 'resulted' });
      given(ev.placed(), ev.accepted(), ev.result()).when(cmd.notified()).then([ev.notified()]).andState({
        status: 'notified',
        notifications: ['n-1'],
      });
      given(ev.placed(), ev.accepted(), ev.result(), ev.notified()).when(cmd.complete()).then([ev.completed()]).andState({
        status: 'completed',
      });
    });

    it('records the same lab acceptance, result or notification only once', () => {
      given(ev.placed(), ev.accepted()).when(cmd.accept()).thenNothing();
      given(ev.placed(), ev.result()).when(cmd.result()).thenNothing();
      given(ev.placed(), ev.notified()).when(cmd.notified()).thenNothing();
      given(ev.placed(), ev.labRejected()).when(cmd.reject()).thenNothing();
    });

    it('records a new status of the same result (preliminary, then final)', () => {
      given(ev.placed(), ev.accepted(), ev.result('P'))
        .when(cmd.result('F'))
        .then([ev.result('F')])
        .andState({ results: [{ resultId: 'res-1', status: 'P', critical: false }, { resultId: 'res-1', status: 'F', critical: false }] });
    });

    it('flags a second, different LIS order id for a human', () => {
      given(ev.placed(), ev.accepted('LIS-1')).when(cmd.accept('LIS-2')).thenThrows('ORDER_LIS_ID_CONFLICT', false);
    });

    it('records a result that arrives before the acceptance, and never moves status back', () => {
      given(ev.placed()).when(cmd.result()).then([ev.result()]).andState({ status: 'resulted' });
      given(ev.placed(), ev.result())
        .when(cmd.accept())
        .then([ev.accepted()])
        .andState({ status: 'resulted', lisOrderId: 'LIS-1' });
      given(ev.placed(), ev.notified()).when(cmd.result()).then([ev.result()]).andState({ status: 'notified' });
    });

    it('does not treat an overdue notice as "clinician informed"', () => {
      given(ev.placed(), ev.accepted())
        .when(cmd.notified('n-9', 'overdue-result'))
        .then([ev.notified('n-9', 'overdue-result')])
        .andState({ status: 'accepted', notifications: ['n-9'] });
    });
  });

  describe('terminal statuses', () => {
    it.each([
      ['completed', completedOrder],
      ['cancelled', [ev.placed(), ev.cancelRequested(), ev.cancelled()]],
      ['rejected', [ev.placed(), ev.labRejected(), ev.rejected()]],
    ])('%s ignores later progress facts and outcomes', (_status, history) => {
      for (const late of [cmd.accept('LIS-7'), cmd.reject(), cmd.result('F', 'res-2'), cmd.notified('n-2'), cmd.complete(), cmd.confirmCancelled(), cmd.confirmRejected()]) {
        given(...history).when(late).thenNothing();
      }
    });

    it('records a corrected result after completion, once', () => {
      given(...completedOrder).when(cmd.result('C')).then([ev.result('C')]).andState({ status: 'completed' });
      given(...completedOrder, ev.result('C')).when(cmd.result('C')).thenNothing();
    });

    it('ignores a corrected result on a cancelled order', () => {
      given(ev.placed(), ev.accepted(), ev.cancelRequested(), ev.cancelled()).when(cmd.result('C')).thenNothing();
    });
  });

  describe('cancellation', () => {
    it('records the cancel request', () => {
      given(ev.placed(), ev.accepted())
        .when(cmd.cancel())
        .then([ev.cancelRequested()])
        .andState({ status: 'cancel-requested', cancelRequested: true, lisOrderId: 'LIS-1' });
    });

    it('ignores a repeated cancel request and a cancel of a closed order', () => {
      given(ev.placed(), ev.cancelRequested()).when(cmd.cancel()).thenNothing();
      given(ev.placed(), ev.cancelRequested(), ev.cancelled()).when(cmd.cancel()).thenNothing();
      given(ev.placed(), ev.labRejected(), ev.rejected()).when(cmd.cancel()).thenNothing();
    });

    it('records a cancel that came after completion as evidence, keeping the order completed', () => {
      given(...completedOrder).when(cmd.cancel()).then([ev.cancelRequested()]).andState({ status: 'completed', cancelRequested: true });
      given(...completedOrder, ev.cancelRequested()).when(cmd.cancel()).thenNothing();
    });

    it('keeps recording facts while the cancel is pending, without leaving cancel-requested', () => {
      given(ev.placed(), ev.cancelRequested())
        .when(cmd.accept())
        .then([ev.accepted()])
        .andState({ status: 'cancel-requested', lisOrderId: 'LIS-1' });
      given(ev.placed(), ev.cancelRequested()).when(cmd.result()).then([ev.result()]).andState({ status: 'cancel-requested' });
    });

    it('ends cancelled when the saga confirms', () => {
      given(ev.placed(), ev.accepted(), ev.cancelRequested())
        .when(cmd.confirmCancelled())
        .then([ev.cancelled()])
        .andState({ status: 'cancelled', cancelRequested: true });
    });

    it('ends completed when the saga completed before it saw the cancel', () => {
      given(ev.placed(), ev.accepted(), ev.result(), ev.notified(), ev.cancelRequested())
        .when(cmd.complete())
        .then([ev.completed()])
        .andState({ status: 'completed', cancelRequested: true });
    });
  });

  describe('rejection', () => {
    it('records the lab rejection, then the rejected outcome', () => {
      given(ev.placed()).when(cmd.reject()).then([ev.labRejected()]).andState({ status: 'placed', labRejectionCode: 'AR' });
      given(ev.placed(), ev.labRejected()).when(cmd.confirmRejected()).then([ev.rejected()]).andState({ status: 'rejected' });
    });
  });
});

describe('labOrderStreamId', () => {
  it('prefixes the order id', () => {
    expect(labOrderStreamId('ord-1')).toBe('lab-order-ord-1');
  });
});

describe('orderError', () => {
  it.each(ORDER_ERROR_CODES.map((code) => [code]))('builds a coded AppError for %s', (code) => {
    const err = orderError(code, { orderId });
    expect(isAppError(err, code)).toBe(true);
    expect(err.retryable).toBe(code === 'ORDER_NOT_FOUND');
    expect(err.message).not.toBe('');
    expect(err.details).toEqual({ orderId });
  });
});
