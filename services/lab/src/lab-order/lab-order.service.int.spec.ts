import { randomUUID } from 'node:crypto';

import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from '@jest/globals';
import type { DataSource } from 'typeorm';

import {
  SUBJECTS,
  newEnvelope,
  type Envelope,
  type LabAcceptOrderV1,
  type LabCancelOrderV1,
} from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import {
  createTestDatabase,
  expectEventually,
  type TestDatabase,
} from '@lifeline/testing';

import { LisClient } from '../lis/lis.client.js';
import { CreateLabTables1764000000500 } from '../migrations/1764000000500-lab.migration.js';
import {
  startExternalSim,
  type ExternalSim,
} from '@lifeline/testing';
import { LabOrderRepository } from './lab-order.repository.js';
import { LabOrderService } from './lab-order.service.js';

// Real: PostgreSQL (own database), external-sim as a child process over HTTP, LisClient, repository,
// outbox and inbox. Not involved: NATS (the service is called as the handler would call it).
const CONSUMER = 'lab-commands';
const LIS_TIMEOUT_MS = 1_000;

function acceptCommand(
  overrides: Partial<LabAcceptOrderV1> = {},
): Envelope<LabAcceptOrderV1> {
  const orderId = overrides.orderId ?? `ord-${randomUUID()}`;
  const commandId = overrides.commandId ?? randomUUID();
  const data: LabAcceptOrderV1 = {
    sagaId: orderId,
    commandId,
    orderId,
    placerOrderNumber: `PLC-${orderId.slice(-6)}`,
    patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-TEST-1' },
    tests: [{ code: 'K', text: 'Potassium' }],
    priority: 'routine',
    ...overrides,
  };
  const type = SUBJECTS.commands.labAcceptOrder;
  return newEnvelope({
    type,
    source: 'lifeline/saga-orchestrator',
    data,
    idempotencyKey: `saga|${commandId}|${type}`,
  });
}

function cancelCommand(
  orderId: string,
  commandId = randomUUID(),
): Envelope<LabCancelOrderV1> {
  const type = SUBJECTS.commands.labCancelOrder;
  return newEnvelope({
    type,
    source: 'lifeline/saga-orchestrator',
    data: { sagaId: orderId, commandId, orderId },
    idempotencyKey: `saga|${commandId}|${type}`,
  });
}

interface OutboxRow {
  subject: string;
  payload: Record<string, unknown>;
  aggregate_id: string;
}

describe('LabOrderService (real PostgreSQL + external-sim LIS)', () => {
  let sim: ExternalSim;
  let db: TestDatabase;
  let ds: DataSource;
  let service: LabOrderService;

  beforeAll(async () => {
    sim = await startExternalSim();
    db = await createTestDatabase('lab-order');
    ds = createServiceDataSource({
      service: 'lab',
      url: db.url,
      migrations: [CreateLabTables1764000000500],
    });
    await ds.initialize();
    await migrateUnderLock(ds, 'lab');
    const lis = new LisClient({
      baseUrl: `${sim.baseUrl}/lis`,
      timeoutMs: LIS_TIMEOUT_MS,
    });
    service = new LabOrderService(
      ds,
      lis,
      new LabOrderRepository(),
      createLogger({ service: 'lab', level: 'silent' }),
    );
  }, 60_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
    await sim?.stop();
  });

  beforeEach(async () => {
    await sim.reset();
  });

  const outboxFor = (orderId: string): Promise<OutboxRow[]> =>
    ds.query(
      'SELECT subject, payload, aggregate_id FROM outbox WHERE aggregate_id = $1 ORDER BY seq',
      [orderId],
    );
  const lisOrder = async (
    orderId: string,
  ): Promise<Record<string, unknown> | undefined> =>
    (
      (await ds.query(
        'SELECT status, lis_order_id, reason_code, command_id FROM lis_orders WHERE order_id = $1',
        [orderId],
      )) as Array<Record<string, unknown>>
    )[0];
  const inboxCount = async (env: Envelope<unknown>): Promise<number> =>
    (
      (await ds.query(
        'SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2',
        [CONSUMER, env.idempotencyKey],
      )) as unknown[]
    ).length;

  it('places the order at the LIS once and commits row and accepted reply together', async () => {
    const cmd = acceptCommand();
    const { orderId, commandId, sagaId } = cmd.data;

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'accepted',
    );

    const effects = await sim.effects('lis');
    expect(effects.byKey).toEqual({ [commandId]: 1 });
    const lisOrderId = effects.effects[0]?.resourceId;
    expect(await lisOrder(orderId)).toEqual({
      status: 'accepted',
      lis_order_id: lisOrderId,
      reason_code: null,
      command_id: commandId,
    });
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.labOrderAccepted,
        aggregate_id: orderId,
        payload: { orderId, sagaId, commandId, lisOrderId },
      },
    ]);
  });

  it('applies a redelivered command once: one LIS effect, one reply', async () => {
    const cmd = acceptCommand();

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'accepted',
    );
    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'duplicate',
    );

    expect((await sim.effects('lis')).byKey).toEqual({
      [cmd.data.commandId]: 1,
    });
    expect(await outboxFor(cmd.data.orderId)).toHaveLength(1);
  });

  it('after a crash between the LIS answer and the commit, the retry gets the replayed answer (O7)', async () => {
    const cmd = acceptCommand();
    const lis = new LisClient({
      baseUrl: `${sim.baseUrl}/lis`,
      timeoutMs: LIS_TIMEOUT_MS,
    });
    // the first attempt's HTTP call, whose transaction never committed
    const first = await lis.placeOrder({
      ...cmd.data,
      idempotencyKey: cmd.data.commandId,
    });

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'accepted',
    );

    const effects = await sim.effects('lis');
    expect(effects.byKey).toEqual({ [cmd.data.commandId]: 1 });
    expect(effects.effects[0]?.replays).toBe(1);
    expect(first.kind).toBe('accepted');
    const lisOrderId = first.kind === 'accepted' ? first.lisOrderId : undefined;
    expect(await outboxFor(cmd.data.orderId)).toEqual([
      expect.objectContaining({
        payload: expect.objectContaining({ lisOrderId }),
      }),
    ]);
  });

  it('fails retryably on a LIS 503 without writing anything, then succeeds on the retry', async () => {
    const cmd = acceptCommand();
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503, count: 1 });

    const failure = await service
      .handleAcceptOrder(cmd, CONSUMER)
      .catch((err: unknown) => err);
    expect(isAppError(failure, 'LIS_UNAVAILABLE') && failure.retryable).toBe(
      true,
    );
    expect(await lisOrder(cmd.data.orderId)).toBeUndefined();
    expect(await outboxFor(cmd.data.orderId)).toEqual([]);
    expect(await inboxCount(cmd)).toBe(0);

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'accepted',
    );
    expect((await sim.effects('lis')).byKey).toEqual({
      [cmd.data.commandId]: 1,
    });
    expect(await outboxFor(cmd.data.orderId)).toHaveLength(1);
  });

  it('fails retryably when the LIS answers after the timeout, and the retry is a replay', async () => {
    const cmd = acceptCommand();
    await sim.addFault({
      target: 'lis',
      mode: 'slow',
      delayMs: LIS_TIMEOUT_MS * 2,
      count: 1,
    });

    const failure = await service
      .handleAcceptOrder(cmd, CONSUMER)
      .catch((err: unknown) => err);
    expect(isAppError(failure, 'LIS_UNAVAILABLE') && failure.retryable).toBe(
      true,
    );
    expect(await outboxFor(cmd.data.orderId)).toEqual([]);
    // the slow LIS still placed the order after we gave up
    await expectEventually(
      async () => expect((await sim.effects('lis')).count).toBe(1),
      { timeoutMs: 5_000 },
    );

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'accepted',
    );
    const effects = await sim.effects('lis');
    expect(effects.byKey).toEqual({ [cmd.data.commandId]: 1 });
    expect(effects.effects[0]?.replays).toBe(1);
    expect(await outboxFor(cmd.data.orderId)).toHaveLength(1);
  });

  it('records a LIS rejection (422) and replies rejected with the reason code', async () => {
    const cmd = acceptCommand({ tests: [{ code: 'K' }, { code: 'REJECT' }] });
    const { orderId, sagaId, commandId } = cmd.data;

    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe(
      'rejected',
    );

    expect(await lisOrder(orderId)).toEqual({
      status: 'rejected',
      lis_order_id: null,
      reason_code: 'LIS_REJECTED',
      command_id: commandId,
    });
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.labOrderRejected,
        aggregate_id: orderId,
        payload: { orderId, sagaId, commandId, reasonCode: 'LIS_REJECTED' },
      },
    ]);
    expect((await sim.effects('lis')).count).toBe(0);
  });

  it('answers order-rejected on the final attempt while the LIS is still unavailable: recorded, no dead letter', async () => {
    const cmd = acceptCommand();
    const { orderId, sagaId, commandId } = cmd.data;
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503 });
    const asked: string[] = [];
    // As the transport answers it: the budget is spent on this delivery.
    const isFinal = async (err: unknown): Promise<boolean> => {
      asked.push(isAppError(err) ? err.code : 'unknown');
      return true;
    };

    await expect(service.handleAcceptOrder(cmd, CONSUMER, { isFinal })).resolves.toBe('rejected');
    await expect(service.handleAcceptOrder(cmd, CONSUMER, { isFinal })).resolves.toBe('duplicate');

    expect(asked).toEqual(['LIS_UNAVAILABLE']);
    expect(await lisOrder(orderId)).toEqual({
      status: 'rejected',
      lis_order_id: null,
      reason_code: 'LIS_UNAVAILABLE',
      command_id: commandId,
    });
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.labOrderRejected,
        aggregate_id: orderId,
        payload: { orderId, sagaId, commandId, reasonCode: 'LIS_UNAVAILABLE' },
      },
    ]);
    expect(await inboxCount(cmd)).toBe(1);
    // A later accept for the order gets the recorded answer, without calling the LIS again.
    const before = (await sim.requests('lis')).length;
    await expect(service.handleAcceptOrder(acceptCommand({ orderId }), CONSUMER)).resolves.toBe('rejected');
    expect(await sim.requests('lis')).toHaveLength(before);
  });

  it('keeps a LIS failure retryable while the budget is not spent', async () => {
    const cmd = acceptCommand();
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503, count: 1 });

    const failure = await service
      .handleAcceptOrder(cmd, CONSUMER, { isFinal: () => Promise.resolve(false) })
      .catch((err: unknown) => err);

    expect(isAppError(failure, 'LIS_UNAVAILABLE') && failure.retryable).toBe(true);
    expect(await lisOrder(cmd.data.orderId)).toBeUndefined();
    expect(await outboxFor(cmd.data.orderId)).toEqual([]);
  });

  it('answers a second accept command for the same order from the record, without a second LIS order', async () => {
    const first = acceptCommand();
    await service.handleAcceptOrder(first, CONSUMER);
    const second = acceptCommand({ orderId: first.data.orderId });

    await expect(service.handleAcceptOrder(second, CONSUMER)).resolves.toBe(
      'accepted',
    );

    expect((await sim.effects('lis')).count).toBe(1);
    const replies = await outboxFor(first.data.orderId);
    expect(replies.map((r) => r.payload.commandId)).toEqual([
      first.data.commandId,
      second.data.commandId,
    ]);
    expect(replies[1]?.payload.lisOrderId).toBe(replies[0]?.payload.lisOrderId);
  });

  it('cancels an accepted order at the LIS with the cancel command id as key', async () => {
    const accept = acceptCommand();
    await service.handleAcceptOrder(accept, CONSUMER);
    const lisOrderId = (await lisOrder(accept.data.orderId))?.lis_order_id;
    const cancel = cancelCommand(accept.data.orderId);

    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe(
      'cancelled',
    );
    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe(
      'duplicate',
    );

    const effects = await sim.effects('lis');
    expect(effects.byKey).toEqual({
      [accept.data.commandId]: 1,
      [cancel.data.commandId]: 1,
    });
    expect(await lisOrder(accept.data.orderId)).toMatchObject({
      status: 'cancelled',
      lis_order_id: lisOrderId,
      command_id: cancel.data.commandId,
    });
    const replies = await outboxFor(accept.data.orderId);
    expect(replies.map((r) => r.subject)).toEqual([
      SUBJECTS.clinical.labOrderAccepted,
      SUBJECTS.clinical.labOrderCancelled,
    ]);
    expect(replies[1]?.payload).toEqual({
      orderId: accept.data.orderId,
      sagaId: accept.data.orderId,
      commandId: cancel.data.commandId,
      lisOrderId,
    });
  });

  it('replies cancelled without calling the LIS for an order it never accepted, and refuses to place it later', async () => {
    const orderId = `ord-${randomUUID()}`;
    const cancel = cancelCommand(orderId);

    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe(
      'cancelled',
    );

    expect(await sim.requests('lis')).toEqual([]);
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.labOrderCancelled,
        aggregate_id: orderId,
        payload: { orderId, sagaId: orderId, commandId: cancel.data.commandId },
      },
    ]);
    const late = await service
      .handleAcceptOrder(acceptCommand({ orderId }), CONSUMER)
      .catch((err: unknown) => err);
    expect(isAppError(late, 'LAB_ORDER_CANCELLED') && !late.retryable).toBe(
      true,
    );
    expect(await sim.requests('lis')).toEqual([]);
  });

  it('keeps a failed LIS cancel retryable and the order accepted', async () => {
    const accept = acceptCommand();
    await service.handleAcceptOrder(accept, CONSUMER);
    await sim.addFault({
      target: 'lis',
      mode: 'fail',
      status: 503,
      count: 1,
      pathPrefix: '/lis/orders/',
    });
    const cancel = cancelCommand(accept.data.orderId);

    const failure = await service
      .handleCancelOrder(cancel, CONSUMER)
      .catch((err: unknown) => err);
    expect(isAppError(failure, 'LIS_UNAVAILABLE') && failure.retryable).toBe(
      true,
    );
    expect(await lisOrder(accept.data.orderId)).toMatchObject({
      status: 'accepted',
    });
    expect(await outboxFor(accept.data.orderId)).toHaveLength(1);

    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe(
      'cancelled',
    );
    expect(await lisOrder(accept.data.orderId)).toMatchObject({
      status: 'cancelled',
    });
  });

  it('answers cancel-failed when the LIS refuses the cancel (a failed compensation), order stays accepted', async () => {
    const accept = acceptCommand();
    await service.handleAcceptOrder(accept, CONSUMER);
    await sim.addFault({ target: 'lis', mode: 'reject', pathPrefix: '/lis/orders/' });
    const cancel = cancelCommand(accept.data.orderId);

    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe('cancel-failed');
    await expect(service.handleCancelOrder(cancel, CONSUMER)).resolves.toBe('duplicate');

    expect(await lisOrder(accept.data.orderId)).toMatchObject({ status: 'accepted' });
    const replies = await outboxFor(accept.data.orderId);
    expect(replies.at(-1)).toMatchObject({
      subject: SUBJECTS.clinical.labCancelFailed,
      payload: { orderId: accept.data.orderId, commandId: cancel.data.commandId, reasonCode: 'LIS_REQUEST_INVALID' },
    });
    expect(replies).toHaveLength(2);
  });

  it('answers cancel-failed on the last attempt of the budget when the LIS is still unavailable', async () => {
    const accept = acceptCommand();
    await service.handleAcceptOrder(accept, CONSUMER);
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503, pathPrefix: '/lis/orders/' });
    const cancel = cancelCommand(accept.data.orderId);

    await expect(service.handleCancelOrder(cancel, CONSUMER, { lastAttempt: true })).resolves.toBe('cancel-failed');

    expect((await outboxFor(accept.data.orderId)).at(-1)?.payload).toMatchObject({ reasonCode: 'LIS_UNAVAILABLE' });
  });
});
