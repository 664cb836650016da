import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { createNaming, newEnvelope, SUBJECTS, type Envelope } from '@lifeline/contracts';
import { connectJetStream, deleteTopology, JetStreamPublisher, provisionTopology } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { AppErrorHttpFilter } from '@lifeline/service-kit';
import { createTestDatabase, expectEventually, testNatsUrl, uniquePrefix, type TestDatabase } from '@lifeline/testing';

import { AppModule } from '../../app.module.js';
import { loadSagaOrchestratorConfig } from '../../config/saga-orchestrator.config.js';
import { sagaOrchestratorDatabase } from '../../database.js';
import type { SagaHistoryRecord, SagaSummary } from '../saga-instance.repository.js';

// Real: nats-server (own prefix), PostgreSQL (own database), the whole AppModule with its JetStream
// consumers, deadline poller and HTTP read API, as main.ts wires them (minus process signals).

const SERVICE = 'saga-orchestrator';
// Mirrors main.ts's table: the filter is the edge that maps codes to HTTP statuses.
const STATUS_TABLE = { SAGA_NOT_FOUND: 404, SAGA_QUERY_INVALID: 400 };

interface SagaDetail {
  saga: SagaSummary;
  history: SagaHistoryRecord[];
}

describe('saga-orchestrator over JetStream and HTTP (real nats-server + PostgreSQL)', () => {
  const prefix = uniquePrefix('saga');
  const naming = createNaming(prefix);
  let nc: NatsConnection;
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;

  const publish = (env: Envelope<unknown>): Promise<unknown> => app.get(JetStreamPublisher).publishEnvelope(env, { expectStream: 'CLINICAL' });
  const getJson = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };
  const detail = async (sagaId: string): Promise<SagaDetail> => {
    const { status, body } = await getJson<SagaDetail>(`/sagas/${encodeURIComponent(sagaId)}`);
    expect(status).toBe(200);
    return body;
  };

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    await provisionTopology({ nc, naming });
    db = await createTestDatabase('saga-handler');
    const config = loadSagaOrchestratorConfig({
      DATABASE_URL: db.url,
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      HTTP_PORT: '0',
      STAT_RESULT_DEADLINE_MS: '100',
      DEADLINE_POLL_MS: '50',
    });
    const ds = createServiceDataSource({ service: SERVICE, url: db.url, migrations: sagaOrchestratorDatabase(config).migrations });
    await ds.initialize();
    await migrateUnderLock(ds, SERVICE);
    await ds.destroy();
    const logger = createLogger({ service: SERVICE, level: 'silent' });
    app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: false });
    app.useGlobalFilters(new AppErrorHttpFilter(STATUS_TABLE, logger));
    await connectJetStream(app);
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    if (nc) {
      await deleteTopology({ nc, naming });
      await nc.drain();
    }
    await db?.drop();
  });

  it('runs a stat order from placement through acceptance to the overdue notice, visible over HTTP', async () => {
    const orderId = `ord-${prefix}`;
    await publish(
      newEnvelope({
        type: SUBJECTS.clinical.orderPlaced,
        source: 'test',
        idempotencyKey: `EHR|${orderId}|${SUBJECTS.clinical.orderPlaced}`,
        priority: 'stat',
        data: {
          orderId,
          placerOrderNumber: 'PON-1',
          sourceSystem: 'EHR',
          sourceMessageId: 'MSG-1',
          messageType: 'ORM^O01',
          patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-1' },
          tests: [{ code: '2345-7' }],
          priority: 'stat',
        },
      }),
    );
    const placed = await expectEventually(() => detail(orderId), { message: 'saga started from the placement' });
    expect(placed.saga).toMatchObject({ sagaId: orderId, sagaType: 'lab-order', orderId, status: 'awaiting-lab-acceptance', version: 1 });
    const acceptId = placed.history[0]?.commands[0]?.commandId;
    expect(acceptId).toBeDefined();

    const accepted = newEnvelope({
      type: SUBJECTS.clinical.labOrderAccepted,
      source: 'test',
      idempotencyKey: `LIS|${orderId}|${SUBJECTS.clinical.labOrderAccepted}`,
      data: { orderId, sagaId: orderId, commandId: acceptId, lisOrderId: 'LIS-1' },
    });
    await publish(accepted);
    // The stat deadline (100 ms) fires through the running poller: one overdue notice, deadline spent.
    const overdue = await expectEventually(
      async () => {
        const d = await detail(orderId);
        expect(d.history.map((h) => h.inputType)).toEqual(['OrderPlaced', 'LabAccepted', 'DeadlineExpired']);
        return d;
      },
      { message: 'acceptance applied and the stat deadline fired' },
    );
    expect(overdue.saga).toMatchObject({ status: 'awaiting-result', version: 3, deadlineAt: null });
    expect(overdue.history[1]).toMatchObject({ messageId: accepted.id, fromStatus: 'awaiting-lab-acceptance', toStatus: 'awaiting-result' });
    expect(overdue.history[2]?.commands.map((c) => c.subject)).toEqual([SUBJECTS.commands.notifyClinician]);

    const list = await getJson<{ sagas: SagaSummary[] }>(`/sagas?orderId=${encodeURIComponent(orderId)}&status=awaiting-result`);
    expect(list.body.sagas.map((s) => s.sagaId)).toEqual([orderId]);
    const patientKey = overdue.saga.patientKey ?? '';
    expect(patientKey).not.toBe('');
    const byPatient = await getJson<{ sagas: SagaSummary[] }>(`/sagas?patientKey=${encodeURIComponent(patientKey)}&inFlight=true&olderThanSeconds=0`);
    expect(byPatient.body.sagas.map((s) => s.sagaId)).toEqual([orderId]);
    const tooYoung = await getJson<{ sagas: SagaSummary[] }>('/sagas?olderThanSeconds=86400');
    expect(tooYoung.body.sagas).toEqual([]);
    const stats = await getJson<{ counts: Record<string, number>; total: number; oldestInFlightSeconds: number }>('/sagas/stats');
    expect(stats.body).toMatchObject({ counts: { 'awaiting-result': 1 }, total: 1 });
    expect(stats.body.oldestInFlightSeconds).toBeGreaterThanOrEqual(0);
  });

  it('maps clinical.notification.failed.v1 for the awaited result notice to needs-attention, visible over HTTP', async () => {
    const orderId = `ord-${prefix}-notify-failed`;
    const clinical = <T>(type: string, data: T): Envelope<T> =>
      newEnvelope({ type, source: 'test', idempotencyKey: `TEST|${orderId}|${type}`, data });
    await publish(
      clinical(SUBJECTS.clinical.orderPlaced, {
        orderId,
        placerOrderNumber: 'PON-2',
        sourceSystem: 'EHR',
        sourceMessageId: 'MSG-2',
        messageType: 'ORM^O01',
        patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-2' },
        tests: [{ code: '2345-7' }],
        priority: 'routine',
      }),
    );
    const placed = await expectEventually(() => detail(orderId), { message: 'saga started from the placement' });
    const acceptId = placed.history[0]?.commands[0]?.commandId;
    await publish(clinical(SUBJECTS.clinical.labOrderAccepted, { orderId, sagaId: orderId, commandId: acceptId, lisOrderId: 'LIS-2' }));
    await publish(
      clinical(SUBJECTS.clinical.labResultRecorded, {
        orderId,
        resultId: 'res-1',
        resultStatus: 'F',
        critical: false,
        criticalCodes: [],
        observationCount: 1,
      }),
    );
    const notifying = await expectEventually(
      async () => {
        const d = await detail(orderId);
        expect(d.saga.status).toBe('awaiting-notification');
        return d;
      },
      { message: 'result applied' },
    );
    const notifyId = notifying.history.at(-1)?.commands[0]?.commandId;
    expect(notifyId).toBeDefined();

    await publish(
      clinical(SUBJECTS.clinical.notificationFailed, {
        orderId,
        sagaId: orderId,
        commandId: notifyId,
        kind: 'result-available',
        reasonCode: 'EHR_INBOX_UNAVAILABLE',
      }),
    );

    const stuck = await expectEventually(
      async () => {
        const d = await detail(orderId);
        expect(d.saga.status).toBe('needs-attention');
        return d;
      },
      { message: 'notification failure applied' },
    );
    expect(stuck.saga.attention).toEqual({
      reason: 'clinician-notification-failed',
      failures: [{ step: 'notify-clinician', code: 'EHR_INBOX_UNAVAILABLE', notice: 'result-available', commandId: notifyId }],
    });
    expect(stuck.history.at(-1)).toMatchObject({ inputType: 'NotificationFailed', fromStatus: 'awaiting-notification', commands: [], events: [] });
  });

  it('answers 404 for an unknown saga and 400 for a bad limit', async () => {
    expect((await getJson('/sagas/no-such-saga')).status).toBe(404);
    expect((await getJson('/sagas?limit=abc')).status).toBe(400);
    expect((await getJson('/sagas?olderThanSeconds=-1')).status).toBe(400);
  });
});
