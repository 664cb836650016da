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
  type NotifyClinicianV1,
} from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import {
  createTestDatabase,
  expectEventually,
  type TestDatabase,
} from '@lifeline/testing';

import { EhrClient } from '../ehr/ehr.client.js';
import { CreateDeliveries1764000000600 } from '../migrations/1764000000600-deliveries.migration.js';
import { CreateDeliveryFailures1764000000610 } from '../migrations/1764000000610-delivery-failures.migration.js';
import {
  startExternalSim,
  type ExternalSim,
} from '@lifeline/testing';
import { NotificationRepository } from './notification.repository.js';
import { NotificationService } from './notification.service.js';

// Real: PostgreSQL (own database), external-sim as a child process over HTTP, EhrClient, repository,
// outbox and inbox. Not involved: NATS (the service is called as the handler would call it).
const CONSUMER = 'notifications-commands';
const EHR_TIMEOUT_MS = 1_000;

function notifyCommand(
  overrides: Partial<NotifyClinicianV1> = {},
): Envelope<NotifyClinicianV1> {
  const orderId = overrides.orderId ?? `ord-${randomUUID()}`;
  const commandId = overrides.commandId ?? randomUUID();
  const data: NotifyClinicianV1 = {
    sagaId: orderId,
    commandId,
    orderId,
    kind: 'result-available',
    patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-TEST-1' },
    resultId: 'r-1',
    critical: false,
    ...overrides,
  };
  const type = SUBJECTS.commands.notifyClinician;
  return newEnvelope({
    type,
    source: 'lifeline/saga-orchestrator',
    data,
    idempotencyKey: `saga|${commandId}|${type}`,
  });
}

interface OutboxRow {
  subject: string;
  payload: Record<string, unknown>;
  priority: string;
}

describe('NotificationService (real PostgreSQL + external-sim EHR inbox)', () => {
  let sim: ExternalSim;
  let db: TestDatabase;
  let ds: DataSource;
  let service: NotificationService;

  beforeAll(async () => {
    sim = await startExternalSim();
    db = await createTestDatabase('notifications');
    ds = createServiceDataSource({
      service: 'notifications',
      url: db.url,
      migrations: [CreateDeliveries1764000000600, CreateDeliveryFailures1764000000610],
    });
    await ds.initialize();
    await migrateUnderLock(ds, 'notifications');
    const ehr = new EhrClient({
      baseUrl: `${sim.baseUrl}/ehr`,
      timeoutMs: EHR_TIMEOUT_MS,
    });
    service = new NotificationService(
      ds,
      ehr,
      new NotificationRepository(),
      createLogger({ service: 'notifications', level: 'silent' }),
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
      `SELECT subject, payload, headers->>'lifeline-priority' AS priority FROM outbox WHERE aggregate_id = $1 ORDER BY seq`,
      [orderId],
    );
  const deliveriesFor = (
    orderId: string,
  ): Promise<Array<Record<string, unknown>>> =>
    ds.query(
      'SELECT notification_id, kind, critical, ehr_message_id FROM deliveries WHERE order_id = $1',
      [orderId],
    );

  it('delivers one EHR message and commits the delivery and its reply together', async () => {
    const cmd = notifyCommand();
    const { orderId, sagaId, commandId } = cmd.data;

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'delivered',
    );

    const effects = await sim.effects('ehr');
    expect(effects.byKey).toEqual({ [commandId]: 1 });
    expect(effects.effects[0]?.attributes).toEqual({
      notificationId: commandId,
      kind: 'result-available',
      orderId,
      patientKey: 'pk-0123456789abcdef',
      critical: false,
    });
    expect(await deliveriesFor(orderId)).toEqual([
      {
        notification_id: commandId,
        kind: 'result-available',
        critical: false,
        ehr_message_id: effects.effects[0]?.resourceId,
      },
    ]);
    const outbox = await outboxFor(orderId);
    expect(outbox).toEqual([
      {
        subject: SUBJECTS.clinical.notificationDelivered,
        priority: 'routine',
        payload: {
          orderId,
          sagaId,
          commandId,
          notificationId: commandId,
          kind: 'result-available',
          deliveredAt: expect.any(String),
        },
      },
    ]);
  });

  it('sends a critical-result delivery on the stat lane', async () => {
    const cmd = notifyCommand({ kind: 'critical-result', critical: true });

    await service.handleNotifyClinician(cmd, CONSUMER);

    expect((await outboxFor(cmd.data.orderId)).map((r) => r.priority)).toEqual([
      'stat',
    ]);
  });

  it('applies a redelivered command once: one EHR message, one reply', async () => {
    const cmd = notifyCommand();

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'delivered',
    );
    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'duplicate',
    );

    expect((await sim.requests('ehr')).length).toBe(1);
    expect((await sim.effects('ehr')).byKey).toEqual({
      [cmd.data.commandId]: 1,
    });
    expect(await outboxFor(cmd.data.orderId)).toHaveLength(1);
  });

  it('turns an EHR slower than the timeout into a retryable failure, and the retry into a replay', async () => {
    const cmd = notifyCommand();
    await sim.addFault({
      target: 'ehr',
      mode: 'slow',
      delayMs: EHR_TIMEOUT_MS * 2,
      count: 1,
    });

    const failure = await service
      .handleNotifyClinician(cmd, CONSUMER)
      .catch((err: unknown) => err);
    expect(
      isAppError(failure, 'EHR_INBOX_UNAVAILABLE') && failure.retryable,
    ).toBe(true);
    expect(await outboxFor(cmd.data.orderId)).toEqual([]);
    expect(await deliveriesFor(cmd.data.orderId)).toEqual([]);
    // the EHR recorded the message after we gave up
    await expectEventually(
      async () =>
        expect((await sim.effects('ehr')).byKey).toEqual({
          [cmd.data.commandId]: 1,
        }),
      { timeoutMs: 5_000 },
    );

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'delivered',
    );

    const effects = await sim.effects('ehr');
    expect(effects.byKey).toEqual({ [cmd.data.commandId]: 1 });
    expect(effects.effects[0]?.replays).toBe(1);
    expect(await deliveriesFor(cmd.data.orderId)).toEqual([
      expect.objectContaining({
        ehr_message_id: effects.effects[0]?.resourceId,
      }),
    ]);
    const outbox = await outboxFor(cmd.data.orderId);
    expect(outbox.map((r) => r.subject)).toEqual([
      SUBJECTS.clinical.notificationDelivered,
    ]);
  });

  it('fails retryably on an EHR 503 without writing anything, then delivers on the retry', async () => {
    const cmd = notifyCommand();
    await sim.addFault({ target: 'ehr', mode: 'fail', status: 503, count: 1 });

    const failure = await service
      .handleNotifyClinician(cmd, CONSUMER)
      .catch((err: unknown) => err);
    expect(
      isAppError(failure, 'EHR_INBOX_UNAVAILABLE') && failure.retryable,
    ).toBe(true);
    expect(await deliveriesFor(cmd.data.orderId)).toEqual([]);
    expect((await sim.effects('ehr')).count).toBe(0);

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'delivered',
    );
    expect((await sim.effects('ehr')).byKey).toEqual({
      [cmd.data.commandId]: 1,
    });
  });

  const failuresFor = (
    orderId: string,
  ): Promise<Array<Record<string, unknown>>> =>
    ds.query(
      'SELECT notification_id, kind, critical, reason_code FROM delivery_failures WHERE order_id = $1',
      [orderId],
    );

  it('answers an EHR refusal (422) with notification.failed instead of retrying or dead-lettering it', async () => {
    const cmd = notifyCommand();
    const { orderId, sagaId, commandId } = cmd.data;
    await sim.addFault({ target: 'ehr', mode: 'reject', count: 1 });

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'failed',
    );

    expect(await failuresFor(orderId)).toEqual([
      {
        notification_id: commandId,
        kind: 'result-available',
        critical: false,
        reason_code: 'EHR_REJECTED',
      },
    ]);
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.notificationFailed,
        priority: 'routine',
        payload: {
          orderId,
          sagaId,
          commandId,
          kind: 'result-available',
          reasonCode: 'EHR_REJECTED',
        },
      },
    ]);
  });

  it('answers notification.failed on the final attempt while the EHR inbox is still down, once, on the stat lane for a critical value', async () => {
    const cmd = notifyCommand({ kind: 'critical-result', critical: true });
    const { orderId, sagaId, commandId } = cmd.data;
    await sim.addFault({ target: 'ehr', mode: 'fail', status: 503 });
    const asked: string[] = [];
    // As the transport answers it: the budget is spent on this delivery.
    const isFinal = async (err: unknown): Promise<boolean> => {
      asked.push(isAppError(err) ? err.code : 'unknown');
      return true;
    };

    await expect(
      service.handleNotifyClinician(cmd, CONSUMER, { isFinal }),
    ).resolves.toBe('failed');
    await expect(
      service.handleNotifyClinician(cmd, CONSUMER, { isFinal }),
    ).resolves.toBe('duplicate');

    expect(asked).toEqual(['EHR_INBOX_UNAVAILABLE']);
    expect(await deliveriesFor(orderId)).toEqual([]);
    expect(await failuresFor(orderId)).toEqual([
      expect.objectContaining({
        notification_id: commandId,
        reason_code: 'EHR_INBOX_UNAVAILABLE',
      }),
    ]);
    expect(await outboxFor(orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.notificationFailed,
        priority: 'stat',
        payload: {
          orderId,
          sagaId,
          commandId,
          kind: 'critical-result',
          reasonCode: 'EHR_INBOX_UNAVAILABLE',
        },
      },
    ]);

    // Answered is answered: a replay after the inbox row is gone neither calls the EHR nor replies again.
    await ds.query('DELETE FROM inbox WHERE message_id = $1', [
      cmd.idempotencyKey,
    ]);
    const calls = (await sim.requests('ehr')).length;
    await expect(
      service.handleNotifyClinician(cmd, CONSUMER, { isFinal }),
    ).resolves.toBe('duplicate');
    expect(await sim.requests('ehr')).toHaveLength(calls);
    expect(await outboxFor(orderId)).toHaveLength(1);
  });

  it('does not call the EHR again for a recorded notification whose inbox row is gone', async () => {
    const cmd = notifyCommand();
    await service.handleNotifyClinician(cmd, CONSUMER);
    await ds.query('DELETE FROM inbox WHERE message_id = $1', [
      cmd.idempotencyKey,
    ]);

    await expect(service.handleNotifyClinician(cmd, CONSUMER)).resolves.toBe(
      'duplicate',
    );

    expect((await sim.requests('ehr')).length).toBe(1);
    expect(await outboxFor(cmd.data.orderId)).toHaveLength(1);
  });
});
