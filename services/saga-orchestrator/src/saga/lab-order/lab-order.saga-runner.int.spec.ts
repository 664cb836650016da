import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';

import { SUBJECTS, type NotificationKind, type Priority } from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { createLogger, inSpan, registry } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { createTestDatabase, expectEventually, installTestTracing } from '@lifeline/testing';

import { SAGA_MIGRATIONS } from '../../database.js';
import { SagaInstanceRepository } from '../saga-instance.repository.js';
import { SagaMetricsService } from '../saga-metrics.service.js';
import { SagaService } from '../saga.service.js';
import { LabOrderSagaRunner, type SagaApplyParams } from './lab-order.saga-runner.js';
import type { SagaInput } from './lab-order.saga.js';
import { SagaDeadlineService } from './saga-deadline.service.js';

// Real: PostgreSQL (own database), the runner, repository, outbox writer and inbox. No NATS: the
// runner's contract ends at the outbox row. The deadline poller is driven by `pollOnce()`.

const SERVICE = 'saga-orchestrator';
const STAT_DEADLINE_MS = 50;
const ROUTINE_DEADLINE_MS = 24 * 3_600_000;
const deadlines = { routineResultMs: ROUTINE_DEADLINE_MS, statResultMs: STAT_DEADLINE_MS };

interface OutboxRow {
  id: string;
  aggregate_id: string;
  subject: string;
  payload: Record<string, unknown>;
  headers: Record<string, string>;
  expect_stream: string | null;
}

interface InstanceRow {
  status: string;
  version: number;
  deadline_at: Date | null;
  deadline_kind: string | null;
}

interface HistoryRow {
  version: number;
  input_type: string;
  message_id: string | null;
  from_status: string | null;
  to_status: string;
  commands: Array<{ subject: string; commandId: string }>;
  events: string[];
  ignored: string | null;
  trace_id: string | null;
}

/** Inputs for one order; each order is its own saga, so tests sharing the database never collide. */
function order(priority: Priority = 'routine') {
  const orderId = `ord-${randomUUID()}`;
  const sagaId = orderId;
  const patient = { key: 'pk-0123456789abcdef', identifier: 'MRN-1', assigningAuthority: 'HOSP' };
  const msg = (name: string): string => `${name}-${randomUUID()}`;
  return {
    orderId,
    sagaId,
    placed: (): SagaInput => ({
      type: 'OrderPlaced',
      messageId: msg('placed'),
      data: {
        orderId,
        placerOrderNumber: 'PON-1',
        sourceSystem: 'EHR',
        sourceMessageId: 'MSG-1',
        messageType: 'ORM^O01',
        patient,
        tests: [{ code: '2345-7', text: 'Glucose', system: 'LN' }],
        priority,
        orderingProviderId: 'DR-7',
      },
    }),
    cancel: (): SagaInput => ({
      type: 'CancelRequested',
      messageId: msg('cancel'),
      data: { orderId, placerOrderNumber: 'PON-1', sourceSystem: 'EHR', sourceMessageId: 'MSG-2', patient, reason: 'CA' },
    }),
    accepted: (commandId: string): SagaInput => ({
      type: 'LabAccepted',
      messageId: msg('accepted'),
      data: { orderId, sagaId, commandId, lisOrderId: 'LIS-1' },
    }),
    result: (resultId = 'res-1'): SagaInput => ({
      type: 'ResultRecorded',
      messageId: msg('result'),
      data: { orderId, resultId, resultStatus: 'F', critical: false, criticalCodes: [], observationCount: 1 },
    }),
    delivered: (commandId: string, kind: NotificationKind = 'result-available'): SagaInput => ({
      type: 'NotificationDelivered',
      messageId: msg('delivered'),
      data: { orderId, sagaId, commandId, notificationId: `n-${commandId}`, kind, deliveredAt: new Date().toISOString() },
    }),
    notificationFailed: (commandId: string): SagaInput => ({
      type: 'NotificationFailed',
      messageId: msg('notification-failed'),
      data: { orderId, sagaId, commandId, kind: 'result-available', reasonCode: 'EHR_INBOX_UNAVAILABLE' },
    }),
    charged: (commandId: string): SagaInput => ({
      type: 'ChargeCreated',
      messageId: msg('charged'),
      data: { orderId, sagaId, commandId, chargeId: 'CHG-1' },
    }),
    chargeFailed: (commandId: string, operation: 'create' | 'void' = 'create'): SagaInput => ({
      type: 'ChargeFailed',
      messageId: msg('charge-failed'),
      data: { orderId, sagaId, commandId, operation, reasonCode: 'BILLING_REJECTED' },
    }),
    labCancelFailed: (commandId: string): SagaInput => ({
      type: 'LabCancelFailed',
      messageId: msg('lab-cancel-failed'),
      data: { orderId, sagaId, commandId, reasonCode: 'LIS_REJECTED' },
    }),
  };
}

type Order = ReturnType<typeof order>;

describe('LabOrderSagaRunner (real PostgreSQL)', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  let runner: LabOrderSagaRunner;
  let poller: SagaDeadlineService;

  const apply = (o: Order, input: SagaInput, extra: Partial<SagaApplyParams> = {}): Promise<void> =>
    runner.apply({ sagaId: o.sagaId, input, messageId: input.messageId, ...extra });

  const outbox = (sagaId: string): Promise<OutboxRow[]> =>
    ds.query('SELECT id, aggregate_id, subject, payload, headers, expect_stream FROM outbox WHERE aggregate_id = $1 ORDER BY seq', [sagaId]);

  const instance = async (sagaId: string): Promise<InstanceRow> => {
    const rows: InstanceRow[] = await ds.query('SELECT status, version, deadline_at, deadline_kind FROM saga_instances WHERE saga_id = $1', [sagaId]);
    expect(rows).toHaveLength(1);
    return rows[0]!;
  };

  const history = (sagaId: string): Promise<HistoryRow[]> =>
    ds.query(
      'SELECT version, input_type, message_id, from_status, to_status, commands, events, ignored, trace_id FROM saga_history WHERE saga_id = $1 ORDER BY id',
      [sagaId],
    );

  /** The commandId of the last outbox row on `subject` (commands are only visible through the outbox). */
  const lastCommandId = async (sagaId: string, subject: string): Promise<string> => {
    const row = (await outbox(sagaId)).filter((r) => r.subject === subject).at(-1);
    expect(row).toBeDefined();
    return row!.payload.commandId as string;
  };

  /** Placed and accepted: the saga waits for its result, deadline armed. */
  const awaitingResult = async (o: Order): Promise<void> => {
    await apply(o, o.placed());
    await apply(o, o.accepted(await lastCommandId(o.sagaId, SUBJECTS.commands.labAcceptOrder)));
  };

  beforeAll(async () => {
    installTestTracing();
    const db = await createTestDatabase('saga-runner');
    drop = db.drop;
    ds = createServiceDataSource({ service: SERVICE, url: db.url, migrations: SAGA_MIGRATIONS, poolSize: 12 });
    await ds.initialize();
    await migrateUnderLock(ds, SERVICE);
    const repository = new SagaInstanceRepository();
    runner = new LabOrderSagaRunner(ds, repository, { deadlines });
    poller = new SagaDeadlineService(ds, runner, repository, { deadlinePollMs: 1_000 }, createLogger({ service: SERVICE, level: 'silent' }));
  });

  afterAll(async () => {
    await ds?.destroy();
    await drop?.();
  });

  it('placement: one accept-order command in the outbox, keyed by the saga, awaiting acceptance', async () => {
    const o = order();
    const placed = o.placed();
    await apply(o, placed);

    const rows = await outbox(o.sagaId);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ aggregate_id: o.sagaId, subject: SUBJECTS.commands.labAcceptOrder, expect_stream: 'COMMANDS' });
    // The outbox id (Nats-Msg-Id) is the command id, so a republish is dropped downstream.
    expect(row!.payload.commandId).toBe(row!.id);
    expect(row!.headers).toMatchObject({
      'ce-source': 'lifeline/saga-orchestrator',
      'lifeline-correlation-id': o.sagaId,
      'lifeline-causation-id': placed.messageId,
      'lifeline-patient-key': 'pk-0123456789abcdef',
      'lifeline-idempotency-key': `saga-orchestrator|${row!.id}|${SUBJECTS.commands.labAcceptOrder}`,
    });
    expect(await instance(o.sagaId)).toMatchObject({ status: 'awaiting-lab-acceptance', version: 1, deadline_at: null });
    expect(await history(o.sagaId)).toEqual([
      expect.objectContaining({
        version: 1,
        input_type: 'OrderPlaced',
        message_id: placed.messageId,
        from_status: null,
        to_status: 'awaiting-lab-acceptance',
        commands: [{ subject: SUBJECTS.commands.labAcceptOrder, commandId: row!.id }],
        events: [],
        ignored: null,
      }),
    ]);
  });

  it('records the active trace id in the history row', async () => {
    const o = order();
    const traceId = await inSpan({ name: 'test apply' }, async (span) => {
      await apply(o, o.placed());
      return span.spanContext().traceId;
    });
    expect((await history(o.sagaId))[0]?.trace_id).toBe(traceId);
  });

  it('applies the same message once per consumer inbox key: one transition, one outbox row', async () => {
    const o = order();
    const placed = o.placed();
    const inbox = { consumer: 'saga-order-placed', inboxKey: `EHR|${o.orderId}|${SUBJECTS.clinical.orderPlaced}` };
    await apply(o, placed, inbox);
    await apply(o, placed, inbox);

    expect(await outbox(o.sagaId)).toHaveLength(1);
    expect(await history(o.sagaId)).toHaveLength(1);
    expect((await instance(o.sagaId)).version).toBe(1);
  });

  it('throws the retryable SAGA_NOT_FOUND for a reply ahead of its placement, writing nothing', async () => {
    const o = order();
    await expect(apply(o, o.result())).rejects.toMatchObject({ code: 'SAGA_NOT_FOUND', retryable: true });
    expect(await ds.query('SELECT 1 FROM saga_instances WHERE saga_id = $1', [o.sagaId])).toHaveLength(0);
    expect(await outbox(o.sagaId)).toHaveLength(0);
  });

  it('arms the result deadline when the lab accepts', async () => {
    const o = order();
    const before = Date.now();
    await awaitingResult(o);

    const saga = await instance(o.sagaId);
    expect(saga).toMatchObject({ status: 'awaiting-result', version: 2, deadline_kind: 'result-due' });
    const dueIn = saga.deadline_at!.getTime() - before;
    expect(dueIn).toBeGreaterThanOrEqual(ROUTINE_DEADLINE_MS - 1_000);
    expect(dueIn).toBeLessThanOrEqual(ROUTINE_DEADLINE_MS + 60_000);
    expect(await outbox(o.sagaId)).toHaveLength(1);
  });

  it('fires a due deadline once: one overdue-result notice, deadline cleared', async () => {
    const o = order('stat');
    await awaitingResult(o);

    const overdue = async (): Promise<OutboxRow[]> =>
      (await outbox(o.sagaId)).filter((r) => r.subject === SUBJECTS.commands.notifyClinician && r.payload.kind === 'overdue-result');
    await expectEventually(
      async () => {
        await poller.pollOnce();
        expect(await overdue()).toHaveLength(1);
      },
      { timeoutMs: 5_000, intervalMs: 20, message: 'stat deadline fires' },
    );
    // Further polls find nothing due: the notice is not repeated.
    await poller.pollOnce();
    await poller.pollOnce();
    expect(await overdue()).toHaveLength(1);
    expect(await instance(o.sagaId)).toMatchObject({ status: 'awaiting-result', version: 3, deadline_at: null, deadline_kind: null });
    const last = (await history(o.sagaId)).at(-1);
    expect(last).toMatchObject({ input_type: 'DeadlineExpired', from_status: 'awaiting-result', to_status: 'awaiting-result', message_id: null });
  });

  it('runs the happy path to completed with the workflow-completed event in the outbox', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.result());
    const notifyId = await lastCommandId(o.sagaId, SUBJECTS.commands.notifyClinician);
    expect(await instance(o.sagaId)).toMatchObject({ status: 'awaiting-notification', deadline_at: null });
    await apply(o, o.delivered(notifyId));
    expect(await instance(o.sagaId)).toMatchObject({ status: 'awaiting-billing', deadline_at: null });
    const charged = o.charged(await lastCommandId(o.sagaId, SUBJECTS.commands.billingCreateCharge));
    await apply(o, charged);

    expect(await instance(o.sagaId)).toMatchObject({ status: 'completed', version: 5, deadline_at: null });
    const rows = await outbox(o.sagaId);
    expect(rows.map((r) => [r.subject, r.expect_stream])).toEqual([
      [SUBJECTS.commands.labAcceptOrder, 'COMMANDS'],
      [SUBJECTS.commands.notifyClinician, 'COMMANDS'],
      [SUBJECTS.commands.billingCreateCharge, 'COMMANDS'],
      [SUBJECTS.clinical.workflowLabOrderCompleted, 'CLINICAL'],
    ]);
    const completed = rows[3]!;
    expect(completed.payload).toMatchObject({ orderId: o.orderId, sagaId: o.sagaId });
    expect(completed.headers).toMatchObject({
      'lifeline-correlation-id': o.sagaId,
      'lifeline-causation-id': charged.messageId,
      'lifeline-idempotency-key': `saga-orchestrator|${o.sagaId}|${SUBJECTS.clinical.workflowLabOrderCompleted}`,
    });
    expect((await history(o.sagaId)).map((h) => h.to_status)).toEqual([
      'awaiting-lab-acceptance',
      'awaiting-result',
      'awaiting-notification',
      'awaiting-billing',
      'completed',
    ]);
  });

  it('compensates a cancel after acceptance with a cancel-order command', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.cancel());

    expect(await instance(o.sagaId)).toMatchObject({ status: 'compensating', deadline_at: null });
    const last = (await outbox(o.sagaId)).at(-1);
    expect(last).toMatchObject({ subject: SUBJECTS.commands.labCancelOrder, expect_stream: 'COMMANDS', aggregate_id: o.sagaId });
    expect(last!.payload).toMatchObject({ orderId: o.orderId, sagaId: o.sagaId, reason: 'CA' });
  });

  it('ignores a late reply after completion: history row with the reason, no new outbox row', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.result());
    const notifyId = await lastCommandId(o.sagaId, SUBJECTS.commands.notifyClinician);
    await apply(o, o.delivered(notifyId));
    await apply(o, o.charged(await lastCommandId(o.sagaId, SUBJECTS.commands.billingCreateCharge)));
    const outboxBefore = (await outbox(o.sagaId)).length;
    const acceptId = await lastCommandId(o.sagaId, SUBJECTS.commands.labAcceptOrder);

    await apply(o, o.accepted(acceptId));

    expect(await outbox(o.sagaId)).toHaveLength(outboxBefore);
    expect(await instance(o.sagaId)).toMatchObject({ status: 'completed', version: 6 });
    expect((await history(o.sagaId)).at(-1)).toMatchObject({
      input_type: 'LabAccepted',
      from_status: 'completed',
      to_status: 'completed',
      ignored: 'stale-reply',
      commands: [],
      events: [],
    });
  });

  it('a permanent billing failure persists completed-billing-failed with its reason', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.result());
    await apply(o, o.delivered(await lastCommandId(o.sagaId, SUBJECTS.commands.notifyClinician)));
    await apply(o, o.chargeFailed(await lastCommandId(o.sagaId, SUBJECTS.commands.billingCreateCharge)));

    const rows: Array<{ status: string; attention: unknown; patient_key: string }> = await ds.query(
      'SELECT status, attention, patient_key FROM saga_instances WHERE saga_id = $1',
      [o.sagaId],
    );
    expect(rows[0]).toEqual({
      status: 'completed-billing-failed',
      attention: { reason: 'billing-failed', failures: [{ step: 'create-charge', code: 'BILLING_REJECTED' }] },
      patient_key: 'pk-0123456789abcdef',
    });
    expect((await outbox(o.sagaId)).at(-1)?.subject).toBe(SUBJECTS.clinical.workflowLabOrderCompleted);
  });

  it('a failed compensation persists needs-attention with the reason; the orderer is still told', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.cancel());
    await apply(o, o.labCancelFailed(await lastCommandId(o.sagaId, SUBJECTS.commands.labCancelOrder)));

    const rows: Array<{ status: string; attention: unknown }> = await ds.query('SELECT status, attention FROM saga_instances WHERE saga_id = $1', [o.sagaId]);
    expect(rows[0]).toEqual({
      status: 'needs-attention',
      attention: { reason: 'compensation-failed', failures: [{ step: 'cancel-at-lab', code: 'LIS_REJECTED' }] },
    });
    const subjects = (await outbox(o.sagaId)).map((r) => r.subject);
    expect(subjects.slice(-2)).toEqual([SUBJECTS.commands.notifyClinician, SUBJECTS.clinical.workflowLabOrderCancelled]);
    expect((await history(o.sagaId)).at(-1)).toMatchObject({ input_type: 'LabCancelFailed', from_status: 'compensating', to_status: 'needs-attention' });
  });

  it('a failed result notice persists needs-attention with the reason, visible to the inspector; nothing billed', async () => {
    const o = order();
    await awaitingResult(o);
    await apply(o, o.result());
    const notifyId = await lastCommandId(o.sagaId, SUBJECTS.commands.notifyClinician);
    const outboxBefore = await outbox(o.sagaId);

    await apply(o, o.notificationFailed(notifyId));

    const attention = {
      reason: 'clinician-notification-failed',
      failures: [{ step: 'notify-clinician', code: 'EHR_INBOX_UNAVAILABLE', notice: 'result-available', commandId: notifyId }],
    };
    const inspector = new SagaService(ds, new SagaInstanceRepository());
    const detail = await inspector.get(o.sagaId);
    expect(detail?.saga).toMatchObject({ status: 'needs-attention', attention, deadlineAt: null });
    expect(detail?.history.at(-1)).toMatchObject({
      inputType: 'NotificationFailed',
      fromStatus: 'awaiting-notification',
      toStatus: 'needs-attention',
      commands: [],
      events: [],
      ignored: null,
    });
    expect(await inspector.list({ status: 'needs-attention', orderId: o.orderId, limit: 10 })).toEqual([
      expect.objectContaining({ sagaId: o.sagaId, attention }),
    ]);
    // Neither billed nor completed: no new command or outcome event.
    expect(await outbox(o.sagaId)).toHaveLength(outboxBefore.length);
  });

  it('starts one saga when two first messages race: the second applies on top of the first', async () => {
    const o = order();
    await Promise.all([apply(o, o.placed()), apply(o, o.placed())]);

    expect(await instance(o.sagaId)).toMatchObject({ status: 'awaiting-lab-acceptance', version: 2 });
    expect(await outbox(o.sagaId)).toHaveLength(1);
    expect((await history(o.sagaId)).map((h) => h.ignored)).toEqual([null, 'duplicate']);
  });

  it('serialises concurrent inputs for one saga on the row lock: no conflict, no lost update', async () => {
    const o = order();
    await awaitingResult(o);
    for (let i = 0; i < 10; i += 1) {
      const start = (await instance(o.sagaId)).version;
      await Promise.all([apply(o, o.result(`res-${i}-a`)), apply(o, o.result(`res-${i}-b`))]);
      expect((await instance(o.sagaId)).version).toBe(start + 2);
    }
    expect(await history(o.sagaId)).toHaveLength(22);
  });

  it('negative control: without the row lock, concurrent inputs conflict or lose an update', async () => {
    const unsafe = new LabOrderSagaRunner(ds, new SagaInstanceRepository(), { deadlines, unsafeSkipRowLock: true });
    const o = order();
    await awaitingResult(o);
    let conflicts = 0;
    let lostUpdates = 0;
    for (let i = 0; i < 20; i += 1) {
      const start = (await instance(o.sagaId)).version;
      const results = await Promise.allSettled(
        [`res-${i}-a`, `res-${i}-b`].map((resultId) => unsafe.apply({ sagaId: o.sagaId, input: o.result(resultId) })),
      );
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(isAppError(r.reason, 'SAGA_VERSION_CONFLICT')).toBe(true);
          conflicts += 1;
        }
      }
      const succeeded = results.filter((r) => r.status === 'fulfilled').length;
      if ((await instance(o.sagaId)).version - start < succeeded) lostUpdates += 1;
    }
    expect(conflicts + lostUpdates).toBeGreaterThanOrEqual(1);
    // A conflicting apply rolls back whole: no outbox row without its history row.
    const recorded = (await history(o.sagaId)).reduce((n, h) => n + h.commands.length + h.events.length, 0);
    expect(await outbox(o.sagaId)).toHaveLength(recorded);
  });

  it('exports instance counts per status and transitions per resulting status, without ids', async () => {
    const o = order();
    await apply(o, o.placed());
    const logger = createLogger({ service: SERVICE, level: 'silent' });
    await new SagaMetricsService(ds, new SagaInstanceRepository(), logger).refresh();

    const rows: Array<{ count: number }> = await ds.query(`SELECT count(*)::int AS count FROM saga_instances WHERE status = 'awaiting-lab-acceptance'`);
    const text = await registry.metrics();
    expect(text).toContain(`saga_instances{state="awaiting-lab-acceptance"} ${rows[0]!.count}`);
    expect(text).toMatch(/saga_transitions_total\{saga_type="lab-order",to_status="awaiting-lab-acceptance"\} [1-9]\d*/);
    expect(text).not.toContain(o.sagaId);
  });
});
