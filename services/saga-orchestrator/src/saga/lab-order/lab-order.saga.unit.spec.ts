import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';
import { validatePayload, type NotificationKind } from '@lifeline/contracts';

import { isTerminal, SAGA_TYPE, transition } from './lab-order.saga.js';
import type {
  AttentionFailure,
  LabOrderSagaStatus,
  SagaCommand,
  SagaDeadline,
  SagaIgnoreReason,
  SagaInput,
  SagaOutcomeEvent,
  SagaState,
  SagaTransition,
} from './lab-order.saga.js';
import { cmd, deadlines, input, NOW, out, plus } from './lab-order-saga-fixtures.util.js';

// ---- given / when / then -------------------------------------------------------------------

interface Expected {
  status: LabOrderSagaStatus;
  commands?: SagaCommand[];
  events?: SagaOutcomeEvent[];
  /** Omitted = the transition leaves the deadline alone. */
  deadline?: SagaDeadline | null;
  ignored?: SagaIgnoreReason;
  state?: Partial<SagaState>;
}

// Every payload the saga emits must pass the contract, or the receiver will dead-letter it.
function expectValidPayloads(t: SagaTransition): void {
  for (const { subject, data } of [...t.commands, ...t.events]) {
    const checked = validatePayload(subject, data);
    expect(checked.ok ? [] : checked.issues).toEqual([]);
  }
}

// Command ids are `cmd-1`, `cmd-2`, ... in the order the saga asks for them, over given + when.
function given(...history: SagaInput[]) {
  let counter = 0;
  const ctx = { now: NOW, newId: () => `cmd-${++counter}`, deadlines };
  const state = history.reduce<SagaState | null>((s, i) => {
    const t = transition(s, i, ctx);
    expectValidPayloads(t);
    return t.state;
  }, null);
  return {
    when(next: SagaInput) {
      const run = (): SagaTransition => transition(state, next, ctx);
      return {
        then(expected: Expected): void {
          const t = run();
          expectValidPayloads(t);
          expect(t.state.status).toBe(expected.status);
          expect({ commands: t.commands, events: t.events, deadline: t.deadline, ignored: t.ignored }).toEqual({
            commands: expected.commands ?? [],
            events: expected.events ?? [],
            deadline: expected.deadline,
            ignored: expected.ignored,
          });
          if (expected.state !== undefined) expect(t.state).toMatchObject(expected.state);
        },
        /** Nothing emitted and the state is exactly as it was. */
        thenIgnored(reason: SagaIgnoreReason): void {
          const t = run();
          expect(t).toEqual({ state, commands: [], events: [], ignored: reason });
        },
        thenThrows(code: string, retryable: boolean): void {
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

const { placed, cancel, accepted, labRejected, result, delivered, labCancelled, deadlineExpired } = input;
const { charged, voided, chargeFailed, labCancelFailed, notificationFailed } = input;
const billingFlow = [placed(), accepted('cmd-1'), result(), delivered('cmd-2')];
const completedFlow = [...billingFlow, charged('cmd-3')];

// ---- specs ---------------------------------------------------------------------------------

describe(`${SAGA_TYPE} saga`, () => {
  describe('happy path', () => {
    it('starts on OrderPlaced by asking the lab to accept', () => {
      given().when(placed()).then({
        status: 'awaiting-lab-acceptance',
        commands: [cmd.accept('cmd-1')],
        state: { sagaId: 'ord-1', awaiting: { commandId: 'cmd-1', kind: 'accept-order' }, compensations: [] },
      });
    });

    it('on acceptance pushes the lab cancel as compensation and sets the routine result deadline', () => {
      given(placed()).when(accepted('cmd-1')).then({
        status: 'awaiting-result',
        deadline: { at: plus(deadlines.routineResultMs), kind: 'result-due' },
        state: { lisOrderId: 'LIS-1', compensations: [{ kind: 'cancel-at-lab', lisOrderId: 'LIS-1' }] },
      });
    });

    it('on a result clears the deadline and notifies the clinician', () => {
      given(placed(), accepted('cmd-1')).when(result()).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'result-available', resultId: 'res-1' })],
        deadline: null,
        state: { awaiting: { commandId: 'cmd-2', kind: 'notify-result' } },
      });
    });

    it('once that notification is delivered asks billing for the charge', () => {
      given(placed(), accepted('cmd-1'), result()).when(delivered('cmd-2')).then({
        status: 'awaiting-billing',
        commands: [cmd.charge('cmd-3')],
        deadline: null,
        state: { awaiting: { commandId: 'cmd-3', kind: 'create-charge' } },
      });
    });

    it('completes when the charge is created, with the void on the stack', () => {
      given(...billingFlow).when(charged('cmd-3')).then({
        status: 'completed',
        events: [out.completed()],
        deadline: null,
        state: {
          chargeId: 'CHG-1',
          compensations: [
            { kind: 'cancel-at-lab', lisOrderId: 'LIS-1' },
            { kind: 'void-charge', chargeId: 'CHG-1' },
          ],
        },
      });
    });
  });

  describe('priority', () => {
    it('sends a stat order on the stat lane with the stat result deadline', () => {
      given().when(placed('stat')).then({ status: 'awaiting-lab-acceptance', commands: [cmd.accept('cmd-1', 'stat')] });
      given(placed('stat')).when(accepted('cmd-1')).then({
        status: 'awaiting-result',
        deadline: { at: plus(deadlines.statResultMs), kind: 'result-due' },
      });
    });

    it('notifies a critical result as critical-result on the stat lane, even for a routine order', () => {
      given(placed(), accepted('cmd-1')).when(result({ critical: true })).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'critical-result', resultId: 'res-1', critical: true, priority: 'stat' })],
        deadline: null,
      });
    });

    it('notifies a normal result of a stat order on the stat lane', () => {
      given(placed('stat'), accepted('cmd-1')).when(result()).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'result-available', resultId: 'res-1', priority: 'stat' })],
        deadline: null,
      });
    });
  });

  describe('cancel', () => {
    it('before the placement: remembers a cancelled saga without commands', () => {
      given().when(cancel()).then({ status: 'cancelled', state: { placed: false, cancelRequested: true } });
    });

    it('before the placement: the late placement is not started but closed as cancelled', () => {
      given(cancel()).when(placed()).then({
        status: 'cancelled',
        events: [out.cancelled([])],
        ignored: 'cancelled-before-placed',
        state: { placed: true, tests: [{ code: '2345-7', text: 'Glucose', system: 'LN' }] },
      });
      given(cancel(), placed()).when(placed()).thenIgnored('duplicate');
    });

    it('while awaiting acceptance: only marks the cancel as pending', () => {
      given(placed()).when(cancel()).then({ status: 'awaiting-lab-acceptance', state: { cancelRequested: true, cancelReason: 'CA' } });
      given(placed(), cancel()).when(cancel()).thenIgnored('duplicate');
    });

    it('while awaiting acceptance: the late acceptance triggers the lab cancel', () => {
      given(placed(), cancel()).when(accepted('cmd-1')).then({
        status: 'compensating',
        commands: [cmd.cancel('cmd-2')],
        deadline: null,
        state: { awaiting: { commandId: 'cmd-2', kind: 'cancel-at-lab' } },
      });
      given(placed(), cancel(), accepted('cmd-1')).when(labCancelled('cmd-2')).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-3', kind: 'order-cancelled' })],
        events: [out.cancelled(['cancel-at-lab'])],
        deadline: null,
        state: { compensations: [], compensated: ['cancel-at-lab'] },
      });
    });

    it('while awaiting acceptance: a lab rejection ends cancelled with nothing to compensate', () => {
      given(placed(), cancel()).when(labRejected('cmd-1')).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'order-cancelled' })],
        events: [out.cancelled([])],
        deadline: null,
      });
    });

    it('while awaiting the result: cancels at the lab, then ends cancelled', () => {
      given(placed(), accepted('cmd-1')).when(cancel()).then({
        status: 'compensating',
        commands: [cmd.cancel('cmd-2')],
        deadline: null,
      });
      given(placed(), accepted('cmd-1'), cancel()).when(labCancelled('cmd-2')).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-3', kind: 'order-cancelled' })],
        events: [out.cancelled(['cancel-at-lab'])],
        deadline: null,
      });
    });

    it('while awaiting the notification: cancels at the lab; the old delivery no longer completes', () => {
      const flow = [placed(), accepted('cmd-1'), result()];
      given(...flow).when(cancel()).then({ status: 'compensating', commands: [cmd.cancel('cmd-3')], deadline: null });
      given(...flow, cancel()).when(delivered('cmd-2')).thenIgnored('stale-reply');
      given(...flow, cancel()).when(labCancelled('cmd-3')).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'order-cancelled' })],
        events: [out.cancelled(['cancel-at-lab'])],
        deadline: null,
      });
    });

    it('after completion is too late', () => {
      given(...completedFlow).when(cancel()).thenIgnored('too-late');
    });

    it('ignores repeated cancels and stray lab-cancel replies', () => {
      const compensating = [placed(), accepted('cmd-1'), cancel()];
      given(...compensating).when(cancel()).thenIgnored('duplicate');
      given(...compensating).when(labCancelled('cmd-x')).thenIgnored('stale-reply');
      given(...compensating, labCancelled('cmd-2')).when(cancel()).thenIgnored('duplicate');
      given(...compensating, labCancelled('cmd-2')).when(labCancelled('cmd-2')).thenIgnored('duplicate');
      given(placed(), accepted('cmd-1')).when(labCancelled('cmd-1')).thenIgnored('unexpected-reply');
    });
  });

  describe('rejection', () => {
    it('ends rejected, publishes the outcome and tells the orderer', () => {
      given(placed()).when(labRejected('cmd-1')).then({
        status: 'rejected',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'order-rejected' })],
        events: [out.rejected('AR')],
        deadline: null,
      });
    });

    it('acknowledges the rejection notice without changing anything, and ignores a later cancel', () => {
      given(placed(), labRejected('cmd-1')).when(delivered('cmd-2', 'order-rejected')).thenIgnored('informational-notification');
      given(placed(), labRejected('cmd-1')).when(cancel()).thenIgnored('already-rejected');
    });
  });

  describe('result deadline', () => {
    it('on expiry notifies overdue-result once and keeps waiting', () => {
      given(placed(), accepted('cmd-1')).when(deadlineExpired()).then({
        status: 'awaiting-result',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'overdue-result' })],
        deadline: null,
        state: { overdueNotified: true },
      });
      given(placed(), accepted('cmd-1'), deadlineExpired()).when(deadlineExpired()).thenIgnored('overdue-already-notified');
    });

    it('the overdue notice does not complete; the late result still does the normal path', () => {
      const overdue = [placed(), accepted('cmd-1'), deadlineExpired()];
      given(...overdue).when(delivered('cmd-2', 'overdue-result')).thenIgnored('informational-notification');
      given(...overdue).when(result()).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-3', kind: 'result-available', resultId: 'res-1' })],
        deadline: null,
      });
    });

    it('with the cancel policy, an overdue result is escalated and the order cancelled at the lab', () => {
      let n = 0;
      const ctx = { now: NOW, newId: () => `cmd-${++n}`, deadlines: { ...deadlines, onOverdue: 'cancel' as const } };
      const waiting = [placed(), accepted('cmd-1')].reduce<SagaState | null>((s, i) => transition(s, i, ctx).state, null);
      const t = transition(waiting, deadlineExpired(), ctx);
      expect(t.state).toMatchObject({ status: 'compensating', overdueNotified: true, cancelReason: 'result-overdue' });
      expect(t.commands.map((c) => [c.subject, c.data.commandId])).toEqual([
        [cmd.notify({ commandId: 'cmd-2', kind: 'overdue-result' }).subject, 'cmd-2'],
        [cmd.cancel('cmd-3').subject, 'cmd-3'],
      ]);
      expect(t.deadline).toBeNull();
    });

    it('a deadline that lost the race to the result is ignored', () => {
      given(placed(), accepted('cmd-1'), result()).when(deadlineExpired()).thenIgnored('late-deadline');
      given(...completedFlow).when(deadlineExpired()).thenIgnored('late-deadline');
    });
  });

  describe('duplicates and stale replies', () => {
    it('ignores a duplicate OrderPlaced', () => {
      given(placed()).when(placed()).thenIgnored('duplicate');
      given(...completedFlow).when(placed()).thenIgnored('duplicate');
    });

    it('ignores replies to commands it is not waiting for', () => {
      given(placed()).when(accepted('cmd-x')).thenIgnored('stale-reply');
      given(placed()).when(labRejected('cmd-x')).thenIgnored('stale-reply');
      given(placed(), accepted('cmd-1')).when(accepted('cmd-1')).thenIgnored('stale-reply');
      given(placed(), accepted('cmd-1'), result()).when(delivered('cmd-x')).thenIgnored('stale-reply');
      given(...completedFlow).when(delivered('cmd-2')).thenIgnored('stale-reply');
    });

    it('matches a reply without commandId by the step it waits for', () => {
      given(placed()).when(accepted(undefined)).then({
        status: 'awaiting-result',
        deadline: { at: plus(deadlines.routineResultMs), kind: 'result-due' },
      });
    });

    it('ignores the same result twice', () => {
      given(placed(), result()).when(result()).thenIgnored('duplicate');
      given(placed(), accepted('cmd-1'), result()).when(result()).thenIgnored('duplicate');
      given(...completedFlow).when(result()).thenIgnored('duplicate');
    });

    it('refuses inputs for a saga that has not started (retryable)', () => {
      given().when(accepted('cmd-1')).thenThrows('SAGA_NOT_FOUND', true);
      given().when(deadlineExpired()).thenThrows('SAGA_NOT_FOUND', true);
    });
  });

  describe('results out of order and after completion', () => {
    it('remembers a result that overtook the acceptance, then notifies on acceptance', () => {
      given(placed()).when(result()).then({
        status: 'awaiting-lab-acceptance',
        state: { pendingResult: { resultId: 'res-1', critical: false } },
      });
      given(placed(), result()).when(accepted('cmd-1')).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'result-available', resultId: 'res-1' })],
        deadline: null,
        state: { pendingResult: undefined, compensations: [{ kind: 'cancel-at-lab', lisOrderId: 'LIS-1' }] },
      });
    });

    it('keeps an early critical flag when a newer result overtakes it', () => {
      given(placed(), result({ critical: true })).when(accepted('cmd-1')).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-2', kind: 'critical-result', resultId: 'res-1', critical: true, priority: 'stat' })],
        deadline: null,
      });
      given(placed(), result({ critical: true })).when(result({ resultId: 'res-2' })).then({
        status: 'awaiting-lab-acceptance',
        state: { pendingResult: { resultId: 'res-2', critical: true } },
      });
    });

    it('still notifies an early critical result when the cancel wins', () => {
      given(placed(), result({ critical: true }), cancel()).when(accepted('cmd-1')).then({
        status: 'compensating',
        commands: [
          cmd.cancel('cmd-2'),
          cmd.notify({ commandId: 'cmd-3', kind: 'critical-result', resultId: 'res-1', critical: true, priority: 'stat' }),
        ],
        deadline: null,
      });
    });

    it('re-notifies an amended (corrected) result after completion and stays completed', () => {
      given(...completedFlow).when(result({ resultStatus: 'C' })).then({
        status: 'completed',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'result-available', resultId: 'res-1' })],
      });
      given(...completedFlow, result({ resultStatus: 'C' })).when(result({ resultStatus: 'C' })).thenIgnored('duplicate');
    });

    it('a newer result while a notification is out supersedes it', () => {
      const notifying = [placed(), accepted('cmd-1'), result()];
      given(...notifying).when(result({ resultId: 'res-2' })).then({
        status: 'awaiting-notification',
        commands: [cmd.notify({ commandId: 'cmd-3', kind: 'result-available', resultId: 'res-2' })],
        deadline: null,
      });
      given(...notifying, result({ resultId: 'res-2' })).when(delivered('cmd-2')).thenIgnored('stale-reply');
      given(...notifying, result({ resultId: 'res-2' })).when(delivered('cmd-3')).then({
        status: 'awaiting-billing',
        commands: [cmd.charge('cmd-4')],
        deadline: null,
      });
    });

    it('on a closed order notifies critical results only', () => {
      const cancelled = [placed(), accepted('cmd-1'), cancel(), labCancelled('cmd-2')];
      given(...cancelled).when(result({ critical: true })).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'critical-result', resultId: 'res-1', critical: true, priority: 'stat' })],
      });
      given(...cancelled).when(result()).then({ status: 'cancelled', ignored: 'order-closed' });
    });
  });
});

describe(`${SAGA_TYPE} saga: billing and failed compensations`, () => {
  const notifiedAtLab = [placed(), accepted('cmd-1'), result()];

  describe('billing', () => {
    it('a permanent billing failure completes the clinical part, flagged billing-failed', () => {
      given(...billingFlow).when(chargeFailed('cmd-3')).then({
        status: 'completed-billing-failed',
        events: [out.completed()],
        deadline: null,
        state: { attention: { reason: 'billing-failed', failures: [{ step: 'create-charge', code: 'BILLING_REJECTED' }] } },
      });
    });

    it('ignores a duplicate or stale billing reply', () => {
      given(...completedFlow).when(charged('cmd-3')).thenIgnored('stale-reply');
      given(...billingFlow).when(charged('cmd-x')).thenIgnored('stale-reply');
      given(...billingFlow).when(chargeFailed('cmd-x')).thenIgnored('stale-reply');
      given(...billingFlow, chargeFailed('cmd-3')).when(charged('cmd-3')).thenIgnored('stale-reply');
    });

    it('an amended result while billing re-notifies and keeps waiting for the charge', () => {
      given(...billingFlow).when(result({ resultStatus: 'C' })).then({
        status: 'awaiting-billing',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'result-available', resultId: 'res-1' })],
        state: { awaiting: { commandId: 'cmd-3', kind: 'create-charge' } },
      });
    });

    it('an amended result after a billing failure re-notifies without billing again', () => {
      given(...billingFlow, chargeFailed('cmd-3')).when(result({ resultStatus: 'C' })).then({
        status: 'completed-billing-failed',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'result-available', resultId: 'res-1' })],
      });
    });

    it('a cancel after completion or a billing failure is too late', () => {
      given(...billingFlow, chargeFailed('cmd-3')).when(cancel()).thenIgnored('too-late');
    });
  });

  describe('cancel while billing', () => {
    it('waits for the charge, then voids it before cancelling at the lab', () => {
      given(...billingFlow).when(cancel()).then({ status: 'awaiting-billing', state: { cancelRequested: true } });
      given(...billingFlow, cancel()).when(cancel()).thenIgnored('duplicate');
      given(...billingFlow, cancel()).when(charged('cmd-3')).then({
        status: 'compensating',
        commands: [cmd.voidCharge('cmd-4')],
        deadline: null,
        state: { awaiting: { commandId: 'cmd-4', kind: 'void-charge' } },
      });
      given(...billingFlow, cancel(), charged('cmd-3')).when(voided('cmd-4')).then({
        status: 'compensating',
        commands: [cmd.cancel('cmd-5')],
        deadline: null,
        state: { compensated: ['void-charge'], compensations: [{ kind: 'cancel-at-lab', lisOrderId: 'LIS-1' }] },
      });
      given(...billingFlow, cancel(), charged('cmd-3'), voided('cmd-4')).when(labCancelled('cmd-5')).then({
        status: 'cancelled',
        commands: [cmd.notify({ commandId: 'cmd-6', kind: 'order-cancelled' })],
        events: [out.cancelled(['void-charge', 'cancel-at-lab'])],
        deadline: null,
      });
    });

    it('a charge that failed needs no void: goes straight to the lab cancel', () => {
      given(...billingFlow, cancel()).when(chargeFailed('cmd-3')).then({
        status: 'compensating',
        commands: [cmd.cancel('cmd-4')],
        deadline: null,
      });
    });

    it('a duplicate void reply is harmless', () => {
      const voiding = [...billingFlow, cancel(), charged('cmd-3'), voided('cmd-4')];
      given(...voiding).when(voided('cmd-4')).thenIgnored('stale-reply');
    });
  });

  describe('failed compensations', () => {
    it('a failed lab cancel ends in needs-attention with the reason, orderer still told', () => {
      given(...notifiedAtLab, cancel()).when(labCancelFailed('cmd-3')).then({
        status: 'needs-attention',
        commands: [cmd.notify({ commandId: 'cmd-4', kind: 'order-cancelled' })],
        events: [out.cancelled([])],
        deadline: null,
        state: {
          compensations: [],
          attention: { reason: 'compensation-failed', failures: [{ step: 'cancel-at-lab', code: 'LIS_REJECTED' }] },
        },
      });
    });

    it('a failed void is recorded, the lab cancel still runs, then needs-attention', () => {
      const voiding = [...billingFlow, cancel(), charged('cmd-3')];
      given(...voiding).when(chargeFailed('cmd-4', 'void', 'BILLING_UNAVAILABLE')).then({
        status: 'compensating',
        commands: [cmd.cancel('cmd-5')],
        deadline: null,
        state: { failedCompensations: [{ kind: 'void-charge', code: 'BILLING_UNAVAILABLE' }] },
      });
      given(...voiding, chargeFailed('cmd-4', 'void', 'BILLING_UNAVAILABLE')).when(labCancelled('cmd-5')).then({
        status: 'needs-attention',
        commands: [cmd.notify({ commandId: 'cmd-6', kind: 'order-cancelled' })],
        events: [out.cancelled(['cancel-at-lab'])],
        deadline: null,
        state: { attention: { reason: 'compensation-failed', failures: [{ step: 'void-charge', code: 'BILLING_UNAVAILABLE' }] } },
      });
    });

    it('after needs-attention, repeated failure replies, cancels and plain results change nothing', () => {
      const attention = [...notifiedAtLab, cancel(), labCancelFailed('cmd-3')];
      given(...attention).when(labCancelFailed('cmd-3')).thenIgnored('duplicate');
      given(...attention).when(cancel()).thenIgnored('duplicate');
      given(...attention).when(result({ resultId: 'res-2' })).then({ status: 'needs-attention', ignored: 'order-closed' });
      given(...attention).when(deadlineExpired()).thenIgnored('late-deadline');
    });

    it('a failure reply for a step not awaited is stale or unexpected', () => {
      given(...notifiedAtLab, cancel()).when(labCancelFailed('cmd-x')).thenIgnored('stale-reply');
      given(placed(), accepted('cmd-1')).when(labCancelFailed('cmd-1')).thenIgnored('unexpected-reply');
    });
  });

  describe('deadline vs late reply', () => {
    it('a result after the overdue notice still completes through billing, once', () => {
      const overdue = [placed(), accepted('cmd-1'), deadlineExpired(), result()];
      given(...overdue).when(delivered('cmd-3')).then({ status: 'awaiting-billing', commands: [cmd.charge('cmd-4')], deadline: null });
      given(...overdue, delivered('cmd-3')).when(deadlineExpired()).thenIgnored('late-deadline');
    });
  });
});

describe(`${SAGA_TYPE} saga: failed clinician notifications`, () => {
  const notifying = [placed(), accepted('cmd-1'), result()];
  const notice = (n: { kind: NotificationKind; commandId: string; code?: string }): AttentionFailure => ({
    step: 'notify-clinician',
    code: n.code ?? 'EHR_INBOX_UNAVAILABLE',
    notice: n.kind,
    commandId: n.commandId,
  });

  it('the awaited result notice failing for good puts the saga in needs-attention: no billing, no completion', () => {
    given(...notifying).when(notificationFailed('cmd-2')).then({
      status: 'needs-attention',
      deadline: null,
      state: {
        awaiting: undefined,
        attention: { reason: 'clinician-notification-failed', failures: [notice({ kind: 'result-available', commandId: 'cmd-2' })] },
      },
    });
  });

  it('after that, the repeated failure, a late delivery and a cancel change nothing', () => {
    const stuck = [...notifying, notificationFailed('cmd-2')];
    given(...stuck).when(notificationFailed('cmd-2')).thenIgnored('duplicate');
    given(...stuck).when(delivered('cmd-2')).thenIgnored('stale-reply');
    given(...stuck).when(cancel()).thenIgnored('duplicate');
  });

  it('a superseded result notice failing is recorded; the saga still waits for the newer one', () => {
    given(...notifying, result({ resultId: 'res-2' })).when(notificationFailed('cmd-2', 'result-available', 'EHR_REJECTED')).then({
      status: 'awaiting-notification',
      state: {
        awaiting: { commandId: 'cmd-3', kind: 'notify-result' },
        attention: { reason: 'clinician-notification-failed', failures: [notice({ kind: 'result-available', commandId: 'cmd-2', code: 'EHR_REJECTED' })] },
      },
    });
  });

  it('a failed rejection or cancel notice records the reason and keeps the terminal state', () => {
    given(placed(), labRejected('cmd-1')).when(notificationFailed('cmd-2', 'order-rejected')).then({
      status: 'rejected',
      state: { attention: { reason: 'clinician-notification-failed', failures: [notice({ kind: 'order-rejected', commandId: 'cmd-2' })] } },
    });
    given(placed(), accepted('cmd-1'), cancel(), labCancelled('cmd-2')).when(notificationFailed('cmd-3', 'order-cancelled')).then({
      status: 'cancelled',
      state: { attention: { reason: 'clinician-notification-failed', failures: [notice({ kind: 'order-cancelled', commandId: 'cmd-3' })] } },
    });
  });

  it('a failed cancel notice after a failed compensation keeps the compensation reason and lists both', () => {
    given(...notifying, cancel(), labCancelFailed('cmd-3')).when(notificationFailed('cmd-4', 'order-cancelled')).then({
      status: 'needs-attention',
      state: {
        attention: {
          reason: 'compensation-failed',
          failures: [{ step: 'cancel-at-lab', code: 'LIS_REJECTED' }, notice({ kind: 'order-cancelled', commandId: 'cmd-4' })],
        },
      },
    });
  });

  it('a failed overdue notice is recorded; the late result still completes, and billing keeps the record', () => {
    const overdue = [placed(), accepted('cmd-1'), deadlineExpired()];
    given(...overdue).when(notificationFailed('cmd-2', 'overdue-result')).then({
      status: 'awaiting-result',
      state: { attention: { reason: 'clinician-notification-failed', failures: [notice({ kind: 'overdue-result', commandId: 'cmd-2' })] } },
    });
    const billing = [...overdue, notificationFailed('cmd-2', 'overdue-result'), result(), delivered('cmd-3')];
    given(...billing).when(chargeFailed('cmd-4')).then({
      status: 'completed-billing-failed',
      events: [out.completed()],
      deadline: null,
      state: {
        attention: {
          reason: 'billing-failed',
          failures: [notice({ kind: 'overdue-result', commandId: 'cmd-2' }), { step: 'create-charge', code: 'BILLING_REJECTED' }],
        },
      },
    });
  });

  it('a failure reply cannot start a saga', () => {
    given().when(notificationFailed('cmd-1')).thenThrows('SAGA_NOT_FOUND', true);
  });
});

describe('isTerminal', () => {
  it.each<[LabOrderSagaStatus, boolean]>([
    ['awaiting-lab-acceptance', false],
    ['awaiting-result', false],
    ['awaiting-notification', false],
    ['awaiting-billing', false],
    ['compensating', false],
    ['needs-attention', false],
    ['completed', true],
    ['completed-billing-failed', true],
    ['cancelled', true],
    ['rejected', true],
  ])('%s → %s', (status, terminal) => {
    expect(isTerminal(status)).toBe(terminal);
  });
});
