import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';

import {
  SUBJECTS,
  newEnvelope,
  type Envelope,
  type Observation,
  type ResultReceivedV1,
} from '@lifeline/contracts';
import { createLogger } from '@lifeline/observability';
import { TransactionBatcher, createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { createTestDatabase, type TestDatabase } from '@lifeline/testing';

import { CreateLabTables1764000000500 } from '../migrations/1764000000500-lab.migration.js';
import { ResultRepository } from './result.repository.js';
import { ResultService, resultIdOf } from './result.service.js';

// Real: PostgreSQL (own database), repository, outbox and inbox. No external call in this flow.
const CONSUMER = 'lab-result-received';

function resultReceived(params: {
  orderId: string;
  observations: Observation[];
  resultStatus?: string;
  version?: string;
}): Envelope<ResultReceivedV1> {
  const { orderId, observations, resultStatus = 'F', version = '1' } = params;
  const type = SUBJECTS.clinical.resultReceived;
  return newEnvelope({
    type,
    source: 'lifeline/normalizer',
    idempotencyKey: `LAB|${orderId}|${type}|${resultStatus}:${version}`,
    data: {
      orderId,
      placerOrderNumber: 'PLC-1',
      sourceSystem: 'LAB',
      sourceMessageId: randomUUID(),
      patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-TEST-1' },
      resultStatus,
      observations,
    },
  });
}

const potassium = (value: number, flags: string[] = []): Observation => ({
  code: { code: 'K' },
  numericValue: value,
  value: String(value),
  units: 'mmol/L',
  abnormalFlags: flags,
});

interface OutboxRow {
  subject: string;
  payload: Record<string, unknown>;
  priority: string;
}

describe('ResultService (real PostgreSQL)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let service: ResultService;

  beforeAll(async () => {
    db = await createTestDatabase('lab-result');
    ds = createServiceDataSource({
      service: 'lab',
      url: db.url,
      migrations: [CreateLabTables1764000000500],
    });
    await ds.initialize();
    await migrateUnderLock(ds, 'lab');
    service = new ResultService(
      ds,
      new ResultRepository(),
      createLogger({ service: 'lab', level: 'silent' }),
      new TransactionBatcher(ds),
    );
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const outboxFor = (orderId: string): Promise<OutboxRow[]> =>
    ds.query(
      `SELECT subject, payload, headers->>'lifeline-priority' AS priority FROM outbox WHERE aggregate_id = $1 ORDER BY seq`,
      [orderId],
    );
  const resultsFor = (
    orderId: string,
  ): Promise<Array<Record<string, unknown>>> =>
    ds.query(
      'SELECT result_id, result_status, critical, critical_codes, observation_count FROM results WHERE order_id = $1 ORDER BY received_at',
      [orderId],
    );

  it('records a critical result and announces it on the stat lane with codes, never values', async () => {
    const orderId = `ord-${randomUUID()}`;
    const env = resultReceived({
      orderId,
      observations: [
        potassium(7.2),
        { ...potassium(140), code: { code: '2951-2' } },
      ],
    });
    const resultId = resultIdOf(env.idempotencyKey);

    await expect(service.recordResult(env, CONSUMER)).resolves.toBe('recorded');

    expect(resultId).toMatch(/^[0-9a-f]{24}$/);
    expect(await resultsFor(orderId)).toEqual([
      {
        result_id: resultId,
        result_status: 'F',
        critical: true,
        critical_codes: ['K'],
        observation_count: 2,
      },
    ]);
    const outbox = await outboxFor(orderId);
    expect(outbox).toEqual([
      {
        subject: SUBJECTS.clinical.labResultRecorded,
        priority: 'stat',
        payload: {
          orderId,
          resultId,
          resultStatus: 'F',
          critical: true,
          criticalCodes: ['K'],
          observationCount: 2,
        },
      },
    ]);
    expect(JSON.stringify(outbox)).not.toContain('7.2');
  });

  it('records a normal result once however often it is delivered, on the routine lane', async () => {
    const orderId = `ord-${randomUUID()}`;
    const env = resultReceived({
      orderId,
      observations: [potassium(5.6, ['H'])],
    });

    await expect(service.recordResult(env, CONSUMER)).resolves.toBe('recorded');
    await expect(service.recordResult(env, CONSUMER)).resolves.toBe(
      'duplicate',
    );
    // same result under a new message id (a resend the normalizer keyed identically)
    await expect(
      service.recordResult({ ...env, id: randomUUID() }, CONSUMER),
    ).resolves.toBe('duplicate');

    expect(await resultsFor(orderId)).toEqual([
      expect.objectContaining({ critical: false, critical_codes: [] }),
    ]);
    expect((await outboxFor(orderId)).map((r) => r.priority)).toEqual([
      'routine',
    ]);
  });

  it('does not announce a result again when it is replayed after its inbox row is gone', async () => {
    const orderId = `ord-${randomUUID()}`;
    const env = resultReceived({ orderId, observations: [potassium(4.1)] });
    await service.recordResult(env, CONSUMER);
    await ds.query('DELETE FROM inbox WHERE message_id = $1', [
      env.idempotencyKey,
    ]);

    await expect(service.recordResult(env, CONSUMER)).resolves.toBe(
      'duplicate',
    );

    expect(await outboxFor(orderId)).toHaveLength(1);
  });

  it('records a corrected result as a new result', async () => {
    const orderId = `ord-${randomUUID()}`;
    await service.recordResult(
      resultReceived({ orderId, observations: [potassium(4.1)] }),
      CONSUMER,
    );

    await service.recordResult(
      resultReceived({
        orderId,
        resultStatus: 'C',
        observations: [potassium(1.9)],
      }),
      CONSUMER,
    );

    const results = await resultsFor(orderId);
    expect(results.map((r) => [r.result_status, r.critical])).toEqual([
      ['F', false],
      ['C', true],
    ]);
    expect(new Set(results.map((r) => r.result_id)).size).toBe(2);
    expect((await outboxFor(orderId)).map((r) => r.priority)).toEqual([
      'routine',
      'stat',
    ]);
  });
});
