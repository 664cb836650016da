import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';

import {
  SUBJECTS,
  createNaming,
  idempotencyKey,
  newEnvelope,
  type OrderCancelRequestedV1,
  type OrderPlacedV1,
  type ResultReceivedV1,
} from '@lifeline/contracts';
import { JetStreamPublisher } from '@lifeline/messaging';
import { expectEventually, testAdminDatabaseUrl, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

// RELIABILITY R11, scaled to two cores: N sagas through the saga's own services (lab, notifications,
// billing, external-sim) while the orchestrator is kill -9'd at random moments and restarted. Inputs
// enter at the saga's boundary (clinical events on NATS), not through MLLP, to spend the cores on
// the orchestrator. Effects are counted where they happen: in external-sim.
const ROOT = new URL('../..', import.meta.url).pathname;
const SERVICES = ['external-sim', 'lab', 'notifications', 'billing', 'saga-orchestrator'];
const SAGAS = Number(process.env.CRASH_SAGAS ?? 300);
// 300: with group commit the mesh drains 150 sagas in fewer kills than the control needs to land one
const NEGATIVE_SAGAS = Number(process.env.CRASH_NEGATIVE_SAGAS ?? 300);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);
// The negative control needs a kill to land inside a handler's publish→commit window: more, closer kills.
const NEGATIVE_KILLS = Number(process.env.CRASH_NEGATIVE_KILLS ?? 20);
const CANCEL_SHARE = 0.2;
const SETTLED = ['completed', 'completed-billing-failed', 'cancelled', 'rejected', 'needs-attention'];

interface Effect {
  operation: string;
  attributes: Record<string, unknown>;
}

export interface CrashReport {
  sagas: number;
  kills: number;
  settled: number;
  byStatus: Record<string, number>;
  duplicateCharges: number;
  duplicateNotifications: number;
  duplicateCompensations: number;
  duplicatePlacements: number;
  completedWithoutCharge: number;
  seconds: number;
}

/** Groups effects by a key and counts keys seen more than once. */
function duplicates(effects: Effect[], keyOf: (e: Effect) => string | undefined): number {
  const seen = new Map<string, number>();
  for (const e of effects) {
    const key = keyOf(e);
    if (key !== undefined) seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen.values()].filter((n) => n > 1).length;
}

async function runCrash({ unsafe, sagas, killCount }: { unsafe: boolean; sagas: number; killCount: number }): Promise<{ report: CrashReport; mesh: MeshHandle; nc: NatsConnection }> {
  const started = Date.now();
  const prefix = uniquePrefix(unsafe ? 'crash-neg' : 'crash');
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  mkdirSync(logsDir, { recursive: true });
  const mesh = await startMesh({
    root: ROOT,
    natsUrl: testNatsUrl(),
    adminDatabaseUrl: testAdminDatabaseUrl(),
    prefix,
    logsDir,
    services: SERVICES,
    env: { LOG_LEVEL: 'warn', ...(unsafe ? { UNSAFE_PUBLISH_COMMANDS_DIRECTLY: 'true' } : {}) },
  });
  const nc = await connect({ servers: testNatsUrl() });
  const publisher = new JetStreamPublisher(nc, createNaming(prefix));
  const publish = async <T>(type: string, data: T, businessId: string): Promise<void> => {
    const env = newEnvelope({ type, source: 'lifeline/crash-test', data, idempotencyKey: idempotencyKey({ sourceSystem: 'crash-test', businessId, type }) });
    await publisher.publishEnvelope(env, { expectStream: 'CLINICAL' });
  };

  const orders = Array.from({ length: sagas }, (_, i) => ({ orderId: `ord-${prefix}-${i}`, placer: `P${i}`, cancel: Math.random() < CANCEL_SHARE }));
  const patient = { key: `pk-${randomUUID().slice(0, 12)}`, identifier: 'MRN-CRASH' };

  const sim = mesh.endpoints.http['external-sim'];
  const effects = async (target: string): Promise<Effect[]> => ((await (await fetch(`${sim}/_sim/effects/${target}`)).json()) as { effects: Effect[] }).effects;
  /** Duplicated effects so far (the control's evidence), read from what the external systems saw. */
  const damageSoFar = async (): Promise<number> => {
    const [lis, ehr] = await Promise.all([effects('lis'), effects('ehr')]);
    return duplicates(ehr, (e) => `${String(e.attributes.orderId)}|${String(e.attributes.kind)}`) + duplicates(lis, (e) => `${String(e.attributes.orderId)}|${String(e.attributes.action)}`);
  };

  // The chaos loop runs beside the load: kill at a random moment, restart, repeat.
  let kills = 0;
  const startChaos = async (): Promise<void> => {
    for (let k = 0; ; k += 1) {
      if (!unsafe && k >= killCount) return;
      // The control keeps going (bounded) until its damage shows: a kill must land inside a
      // publish→commit window of a few ms, densest just after a restart, while the backlog drains.
      if (unsafe && k >= killCount && (k >= killCount * 3 || (await damageSoFar()) > 0 || (await settledCount()) === sagas)) return;
      await new Promise((r) => setTimeout(r, unsafe ? 100 + Math.random() * 500 : 1_000 + Math.random() * 4_000));
      await mesh.kill9('saga-orchestrator');
      kills += 1;
      await mesh.restart('saga-orchestrator');
    }
  };
  // The outbox run is killed from the first placement on; the negative control while replies flow.
  let chaos = unsafe ? Promise.resolve() : startChaos();

  for (const o of orders) {
    const placed: OrderPlacedV1 = {
      orderId: o.orderId,
      placerOrderNumber: o.placer,
      sourceSystem: 'EHR',
      sourceMessageId: `m-${o.orderId}`,
      messageType: 'ORM^O01',
      patient,
      tests: [{ code: 'K' }],
      priority: 'routine',
    };
    await publish(SUBJECTS.clinical.orderPlaced, placed, o.orderId);
  }
  const db = new pg.Client({ connectionString: mesh.databases['saga-orchestrator'] });
  await db.connect();
  const counts = async (): Promise<Record<string, number>> => {
    const rows = (await db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM saga_instances GROUP BY status')).rows;
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  };
  const settledCount = async (): Promise<number> => {
    const c = await counts();
    return SETTLED.reduce((sum, st) => sum + (c[st] ?? 0), 0);
  };
  // Results and cancels go out once every saga exists, as in the real flow (a result follows its
  // order): a result for a saga not started yet is retried only within its consumer's budget.
  await expectEventually(
    async () => expect(Object.values(await counts()).reduce((a, b) => a + b, 0)).toBe(sagas),
    { timeoutMs: 240_000, intervalMs: 1_000, message: 'every saga started' },
  );
  if (unsafe) chaos = startChaos();
  for (const o of orders) {
    if (o.cancel) {
      const cancel: OrderCancelRequestedV1 = { orderId: o.orderId, placerOrderNumber: o.placer, sourceSystem: 'EHR', sourceMessageId: `c-${o.orderId}`, patient, reason: 'CA' };
      await publish(SUBJECTS.clinical.orderCancelRequested, cancel, `cancel-${o.orderId}`);
    } else {
      const result: ResultReceivedV1 = {
        orderId: o.orderId,
        placerOrderNumber: o.placer,
        sourceSystem: 'LIS',
        sourceMessageId: `r-${o.orderId}`,
        patient,
        resultStatus: 'F',
        observations: [{ code: { code: 'K' }, value: '4.1', numericValue: 4.1, units: 'mmol/L', referenceRange: '3.5-5.1', abnormalFlags: [] }],
      };
      await publish(SUBJECTS.clinical.resultReceived, result, `result-${o.orderId}`);
    }
  }
  await chaos;

  let byStatus: Record<string, number> = {};
  try {
    byStatus = await expectEventually(
      async () => {
        const c = await counts();
        const settled = SETTLED.reduce((sum, s) => sum + (c[s] ?? 0), 0);
        expect(settled).toBe(sagas);
        return c;
      },
      { timeoutMs: 240_000, intervalMs: 2_000, message: 'every saga settled' },
    );
  } catch {
    // The negative control may never settle (lost commands): report what it reached.
    byStatus = await counts();
  } finally {
    await db.end();
  }
  const [lis, ehr, billing] = await Promise.all([effects('lis'), effects('ehr'), effects('billing')]);
  const attr = (e: Effect, k: string): string => String(e.attributes[k]);
  const charges = billing.filter((e) => e.attributes.action === 'charge');
  const report: CrashReport = {
    sagas,
    kills,
    settled: SETTLED.reduce((sum, s) => sum + (byStatus[s] ?? 0), 0),
    byStatus,
    duplicateCharges: duplicates(charges, (e) => attr(e, 'orderId')),
    duplicateNotifications: duplicates(ehr, (e) => `${attr(e, 'orderId')}|${attr(e, 'kind')}`),
    duplicateCompensations:
      duplicates(lis.filter((e) => e.attributes.action === 'cancel'), (e) => attr(e, 'orderId')) +
      duplicates(billing.filter((e) => e.attributes.action === 'void'), (e) => attr(e, 'orderId')),
    duplicatePlacements: duplicates(lis.filter((e) => e.attributes.action !== 'cancel'), (e) => attr(e, 'orderId')),
    completedWithoutCharge: Math.max(0, (byStatus.completed ?? 0) - new Set(charges.map((e) => attr(e, 'orderId'))).size),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  // One line for whoever reads the run: the figures the issue asks for.
  process.stdout.write(`crash-test ${unsafe ? 'NEGATIVE CONTROL' : 'outbox'}: ${JSON.stringify(report)}\n`);
  return { report, mesh, nc };
}

describe('saga orchestrator kill -9 under load (R11 scaled)', () => {
  it(`${SAGAS} sagas, ${KILLS} kills: all settle, no effect twice`, async () => {
    const { report, mesh, nc } = await runCrash({ unsafe: false, sagas: SAGAS, killCount: KILLS });
    try {
      expect(report.kills).toBeGreaterThanOrEqual(KILLS);
      expect(report.settled).toBe(SAGAS);
      expect(report).toMatchObject({
        duplicateCharges: 0,
        duplicateNotifications: 0,
        duplicateCompensations: 0,
        duplicatePlacements: 0,
        completedWithoutCharge: 0,
      });
    } finally {
      await mesh.stop();
      await nc.drain();
    }
  }, 900_000);

  it('negative control: with the outbox bypassed the same chaos duplicates or loses effects', async () => {
    const { report, mesh, nc } = await runCrash({ unsafe: true, sagas: NEGATIVE_SAGAS, killCount: NEGATIVE_KILLS });
    try {
      const damage = report.duplicateNotifications + report.duplicateCharges + report.duplicateCompensations + (report.sagas - report.settled);
      expect(damage).toBeGreaterThan(0);
    } finally {
      await mesh.stop();
      await nc.drain();
    }
  }, 900_000);
});
