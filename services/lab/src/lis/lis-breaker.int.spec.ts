import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';

import { SUBJECTS, newEnvelope, type Envelope, type LabAcceptOrderV1 } from '@lifeline/contracts';
import { errorKindOf, isAppError } from '@lifeline/errors';
import { DEFAULT_RETRY_POLICY, createDownstreamGuard, decideAck, downstreamRefusal } from '@lifeline/messaging';
import { createLogger, registry } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { createTestDatabase, expectEventually, type TestDatabase } from '@lifeline/testing';

import { loadLabConfig } from '../config/lab.config.js';
import { LabOrderRepository } from '../lab-order/lab-order.repository.js';
import { LabOrderService } from '../lab-order/lab-order.service.js';
import { CreateLabTables1764000000500 } from '../migrations/1764000000500-lab.migration.js';
import { startExternalSim, type ExternalSim } from '@lifeline/testing';
import { LisClient } from './lis.client.js';

// Real: external-sim as a child process over HTTP (faults and /_sim/stats), LisClient with the
// guard built from the lab config, PostgreSQL for the service-level check. Not involved: NATS (the
// transport's decision is computed with decideAck, the function the transport calls).
const OPEN_MS = 500;
const FAILURES = 3;
const RATE_PER_S = 50;
const CONCURRENCY = 8;
const OUTAGE_OFFERED_PER_S = 40;
const OUTAGE_MS = 2_000;
const CONSUMER = 'lab-commands';
const MAX_ATTEMPTS = 5;

function lisConfig(breaker: boolean) {
  return loadLabConfig({
    NODE_ENV: 'test',
    DATABASE_URL: 'postgres://unused/lab',
    LIS_BASE_URL: 'http://127.0.0.1:1/lis',
    LIS_TIMEOUT_MS: '1000',
    LIS_BREAKER_ENABLED: String(breaker),
    LIS_BREAKER_FAILURES: String(FAILURES),
    LIS_BREAKER_OPEN_MS: String(OPEN_MS),
    LIS_RATE_PER_S: String(RATE_PER_S),
    LIS_MAX_CONCURRENCY: String(CONCURRENCY),
  }).lis.protection;
}

/**
 * Offered load for durationMs: calls issued on a timer (not awaited in turn), in batches every
 * >= 20 ms since finer timers slip on a busy machine. Resolves with every outcome (undefined = ok).
 */
async function offer(ratePerS: number, durationMs: number, call: () => Promise<unknown>): Promise<unknown[]> {
  const pending: Array<Promise<unknown>> = [];
  const tickMs = Math.max(20, 1_000 / ratePerS);
  const perTick = Math.max(1, Math.round((ratePerS * tickMs) / 1_000));
  await new Promise<void>((resolve) => {
    const started = Date.now();
    const tick = setInterval(() => {
      if (Date.now() - started >= durationMs) {
        clearInterval(tick);
        resolve();
        return;
      }
      for (let i = 0; i < perTick; i++) pending.push(call().then(() => undefined, (err: unknown) => err));
    }, tickMs);
  });
  return Promise.all(pending);
}

function acceptCommand(): Envelope<LabAcceptOrderV1> {
  const orderId = `ord-${randomUUID()}`;
  const commandId = randomUUID();
  const type = SUBJECTS.commands.labAcceptOrder;
  return newEnvelope({
    type,
    source: 'lifeline/saga-orchestrator',
    data: {
      sagaId: orderId,
      commandId,
      orderId,
      placerOrderNumber: `PLC-${orderId.slice(-6)}`,
      patient: { key: 'pk-0123456789abcdef', identifier: 'MRN-TEST-1' },
      tests: [{ code: 'K', text: 'Potassium' }],
      priority: 'routine',
    },
    idempotencyKey: `saga|${commandId}|${type}`,
  });
}

/** What the JetStream transport would do with this error at a delivery far past maxAttempts. */
function settleLate(err: unknown) {
  return decideAck({ error: err, deliveryCount: MAX_ATTEMPTS * 10, policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: MAX_ATTEMPTS } });
}

async function breakerGauge(): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('downstream_breaker_state')?.get();
  return metric?.values.find((v) => v.labels.target === 'lis')?.value;
}

describe('LIS circuit breaker and rate limit (real external-sim)', () => {
  let sim: ExternalSim;
  let db: TestDatabase;
  let ds: DataSource;

  const lisClient = (breaker: boolean) => {
    const guard = createDownstreamGuard('lis', lisConfig(breaker));
    return { guard, lis: new LisClient({ baseUrl: `${sim.baseUrl}/lis`, timeoutMs: 1_000, guard }) };
  };
  const place = (lis: LisClient) => () => {
    const orderId = `ord-${randomUUID()}`;
    return lis.placeOrder({ idempotencyKey: randomUUID(), orderId, placerOrderNumber: 'PLC-1', tests: [{ code: 'K' }], priority: 'routine' });
  };
  const received = async () => (await sim.stats()).lis.received;

  beforeAll(async () => {
    sim = await startExternalSim();
    db = await createTestDatabase('lis-breaker');
    ds = createServiceDataSource({ service: 'lab', url: db.url, migrations: [CreateLabTables1764000000500] });
    await ds.initialize();
    await migrateUnderLock(ds, 'lab');
  }, 60_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
    await sim?.stop();
  });

  beforeEach(async () => {
    await sim.reset();
  });

  it('LIS down: the breaker opens, calls drop to the probe rate, every refusal is a pause; LIS back: calls resume within the rate limit', async () => {
    const { lis, guard } = lisClient(true);
    const service = new LabOrderService(ds, lis, new LabOrderRepository(), createLogger({ service: 'lab', level: 'silent' }));
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503 });

    const outage = await offer(OUTAGE_OFFERED_PER_S, OUTAGE_MS, place(lis));
    const reached = await received();

    // offered ~80; reached: the failures that opened it (plus those already in flight) and ≤ 1 probe per OPEN_MS
    expect(outage.length).toBeGreaterThanOrEqual(OUTAGE_OFFERED_PER_S);
    expect(reached).toBeGreaterThanOrEqual(FAILURES);
    expect(reached).toBeLessThanOrEqual(FAILURES + CONCURRENCY + Math.ceil(OUTAGE_MS / OPEN_MS) + 1);
    expect(await breakerGauge()).toBe(2);
    // every failure is retryable; none would be dead-lettered: refusals pause without spending attempts
    const refusals = outage.filter((e) => downstreamRefusal(e) !== undefined);
    expect(refusals.length).toBe(outage.length - reached);
    for (const err of outage) expect(isAppError(err) && err.retryable).toBe(true);
    for (const err of refusals) {
      expect(downstreamRefusal(err)).toEqual({ code: 'DOWNSTREAM_CIRCUIT_OPEN', retryAfterMs: expect.any(Number) });
      expect(errorKindOf(err)).toBe('downstream-unavailable');
      expect(settleLate(err)).toMatchObject({ action: 'nak', countsAgainstBudget: false });
    }

    // the service surfaces the same pause and writes nothing (no terminal outcome, no reply)
    const cmd = acceptCommand();
    const failure = await service.handleAcceptOrder(cmd, CONSUMER).catch((e: unknown) => e);
    expect(isAppError(failure) && ['DOWNSTREAM_CIRCUIT_OPEN', 'LIS_UNAVAILABLE'].includes(failure.code) && failure.retryable).toBe(true);
    expect(await ds.query('SELECT 1 FROM outbox WHERE aggregate_id = $1', [cmd.data.orderId])).toEqual([]);

    await sim.clearFaults();
    // the next half-open probe succeeds and closes the breaker
    await expect(expectEventually(() => place(lis)(), { timeoutMs: OPEN_MS * 6, message: 'LIS call succeeds again' })).resolves.toMatchObject({ kind: 'accepted' });
    expect(guard.state).toBe('closed');
    await expect(service.handleAcceptOrder(cmd, CONSUMER)).resolves.toBe('accepted');

    const before = await received();
    const recovery = await offer(RATE_PER_S * 6, 1_000, place(lis));
    const reachedAfter = (await received()) - before;
    // at most a full bucket (RATE_PER_S) plus the refill over 1 s and the ≤ 250 ms a caller may wait;
    // callers waiting for a token hold a concurrency slot, so the excess is refused by either limit
    expect(reachedAfter).toBeGreaterThanOrEqual(RATE_PER_S);
    expect(reachedAfter).toBeLessThanOrEqual(RATE_PER_S * 2.5 + 5);
    const limited = recovery.filter((e) => downstreamRefusal(e)?.code === 'DOWNSTREAM_RATE_LIMITED');
    expect(limited.length).toBe(recovery.length - reachedAfter);
    expect(limited.length).toBeGreaterThan(0);
    for (const err of limited) expect(settleLate(err)).toMatchObject({ action: 'nak', countsAgainstBudget: false });
    expect(recovery.filter((e) => e !== undefined && downstreamRefusal(e) === undefined)).toEqual([]);
  });

  it('negative control: with the breaker disabled, the LIS gets the whole offered load during the outage', async () => {
    const { lis } = lisClient(false);
    await sim.addFault({ target: 'lis', mode: 'fail', status: 503 });

    const outage = await offer(OUTAGE_OFFERED_PER_S, OUTAGE_MS, place(lis));

    expect(await received()).toBe(outage.length);
    expect(outage.every((e) => isAppError(e, 'LIS_UNAVAILABLE'))).toBe(true);
    // and each of them spends an attempt: past maxAttempts the message would be dead-lettered
    expect(settleLate(outage[0])).toMatchObject({ action: 'dead-letter' });
  });
});
