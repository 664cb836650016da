import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';

import { createNaming, type Naming } from '@lifeline/contracts';
import { ackCode, expectEventually, hl7Orm, sendMllp, testAdminDatabaseUrl, testNatsUrl, uniquePrefix } from '@lifeline/testing';

// Issue 3, check "Transient" (scaled): the LIS is down for OUTAGE_MS while orders keep coming. The mesh
// must ride it out: nothing dead-lettered, every order accepted once the LIS is back, exactly one LIS
// placement per order, and the LIS is not hammered while it is down. The whole mesh as real processes
// on the run's NATS and PostgreSQL; external-sim plays the LIS. Black box: MLLP in, HTTP APIs, sim
// records and the DLQ stream out.
import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const ORDERS = 20;
const OUTAGE_MS = 30_000;
// breaker: opens after 5 consecutive LIS failures, then lets one half-open probe through per OPEN_MS
const BREAKER_FAILURES = 5;
const OPEN_MS = 5_000;
// the lab's LIS concurrency cap (LIS_MAX_CONCURRENCY): at most this many calls were already in flight
// when the breaker opened
const LIS_MAX_CONCURRENCY = 8;

interface SimRequest {
  seq: number;
  path: string;
  idempotencyKey: string | null;
  receivedAt: string;
  status: number | null;
  fault: string | null;
}
interface SimEffects {
  effects: Array<{ idempotencyKey: string; operation: string; resourceId: string; attributes: Record<string, unknown>; createdAt: string }>;
}
interface OrderView {
  order: { orderId: string; status: string };
}

/** One mesh with its own prefix, env and log directory; the helpers every scenario needs. */
function meshFixture(name: string, env: Record<string, string>) {
  const prefix = uniquePrefix(name);
  const naming: Naming = createNaming(prefix);
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  const patientId = `MRN-${prefix}`;
  const suffix = prefix.replace(/[^a-z0-9]/g, '').slice(-8);
  let mesh: MeshHandle | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;

  const fx = {
    naming,
    get mesh(): MeshHandle {
      if (!mesh) throw new Error('mesh not started');
      return mesh;
    },
    get nc(): NatsConnection {
      if (!nc) throw new Error('not connected');
      return nc;
    },
    async start(): Promise<void> {
      mkdirSync(logsDir, { recursive: true });
      nc = await connect({ servers: testNatsUrl() });
      jsm = await jetstreamManager(nc);
      mesh = await startMesh({ root: ROOT, natsUrl: testNatsUrl(), adminDatabaseUrl: testAdminDatabaseUrl(), prefix, logsDir, env: { LOG_LEVEL: 'info', ...env } });
    },
    async stop(): Promise<void> {
      // what the LIS saw, beside the service logs, for whoever reads a failed run
      const sim = mesh?.endpoints.http['external-sim'];
      if (sim) writeFileSync(join(logsDir, 'external-sim-requests.json'), await fetch(`${sim}/_sim/requests`).then((r) => r.text()).catch(() => '[]'));
      await mesh?.stop();
      await nc?.drain();
    },
    async http<T>(service: string, path: string, init?: RequestInit): Promise<T> {
      const res = await fetch(`${fx.mesh.endpoints.http[service]}${path}`, init);
      if (!res.ok) throw new Error(`${service} ${path} → ${res.status}`);
      return (await res.json()) as T;
    },
    async lisDown(untilMs: number): Promise<void> {
      await fx.http('external-sim', '/_sim/faults', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'lis', mode: 'fail', untilMs }),
      });
    },
    placer: (i: number): string => `T${String(i).padStart(2, '0')}${suffix}`,
    /** Sends ORDERS ORMs over MLLP (each acknowledged AA by the gateway). */
    async sendOrders(): Promise<void> {
      for (let i = 0; i < ORDERS; i += 1) {
        const ack = await sendMllp({
          host: fx.mesh.endpoints.mllp.host,
          port: fx.mesh.endpoints.mllp.port,
          message: hl7Orm({ controlId: `${prefix}-${i}`, placerOrderNumber: fx.placer(i), patientId: `${patientId}-${i}`, testCode: 'K' }),
          timeoutMs: 15_000,
        });
        expect(ackCode(ack)).toBe('AA');
      }
    },
    async order(i: number): Promise<OrderView['order'] | undefined> {
      const { orders } = await fx.http<{ orders: Array<{ orderId: string }> }>('orders', `/orders?placerOrderNumber=${fx.placer(i)}`);
      const id = orders[0]?.orderId;
      return id ? (await fx.http<OrderView>('orders', `/orders/${encodeURIComponent(id)}`)).order : undefined;
    },
    async dlqMessages(): Promise<number> {
      if (!jsm) throw new Error('not connected');
      return (await jsm.streams.info(naming.stream('DLQ'))).state.messages;
    },
    lisRequests: (): Promise<SimRequest[]> => fx.http<SimRequest[]>('external-sim', '/_sim/requests?target=lis'),
    lisEffects: async (): Promise<SimEffects['effects']> => (await fx.http<SimEffects>('external-sim', '/_sim/effects/lis')).effects,
  };
  return fx;
}

describe('a 30 s LIS outage, end to end', () => {
  const fx = meshFixture('e2e-outage', {
    // lab: a generous transient budget with backoff; the breaker is what keeps the LIS quiet meanwhile
    RETRY_POLICIES: JSON.stringify({ services: { lab: { classes: { transient: { maxAttempts: 10, baseDelayMs: 500, maxDelayMs: 5_000, jitter: 'full' } } } } }),
    LIS_BREAKER_ENABLED: 'true',
    LIS_BREAKER_FAILURES: String(BREAKER_FAILURES),
    LIS_BREAKER_OPEN_MS: String(OPEN_MS),
    LIS_MAX_CONCURRENCY: String(LIS_MAX_CONCURRENCY),
  });

  beforeAll(() => fx.start(), 180_000);
  afterAll(() => fx.stop());

  it('dead-letters nothing, accepts every order once the LIS is back, places each exactly once, probing the LIS at the breaker rate meanwhile', async () => {
    const outageStart = Date.now();
    await fx.lisDown(OUTAGE_MS);
    const outageEnd = outageStart + OUTAGE_MS;
    await fx.sendOrders();

    const orders = await expectEventually(
      async () => {
        const all = await Promise.all(Array.from({ length: ORDERS }, (_, i) => fx.order(i)));
        expect(all.map((o) => o?.status)).toEqual(Array.from({ length: ORDERS }, () => 'accepted'));
        return all as Array<OrderView['order']>;
      },
      // the outage, then at most one open period until the probe that closes the breaker, then the
      // paused commands come back (their pause is the breaker's retry-after, ≤ OPEN_MS)
      { timeoutMs: OUTAGE_MS + 4 * OPEN_MS + 30_000, intervalMs: 1_000 },
    );
    const acceptedAt = Date.now();
    process.stdout.write(`outage: all ${ORDERS} accepted ${((acceptedAt - outageEnd) / 1000).toFixed(1)} s after the LIS came back\n`);

    // nothing was dead-lettered by the outage
    expect(await fx.dlqMessages()).toBe(0);

    // exactly one LIS placement per order
    const effects = (await fx.lisEffects()).filter((e) => e.operation === 'lis.place-order');
    const keys = orders.map((o) => {
      const mine = effects.filter((e) => JSON.stringify(e).includes(o.orderId));
      expect(mine).toHaveLength(1);
      return (mine[0] as SimEffects['effects'][number]).idempotencyKey;
    });
    expect(new Set(keys).size).toBe(ORDERS);
    // no order was placed while the LIS was down: the outage was real for all of them
    for (const e of effects.filter((x) => keys.includes(x.idempotencyKey))) expect(Date.parse(e.createdAt)).toBeGreaterThanOrEqual(outageEnd - 1_000);

    // What the design promises (circuit-breaker.util.ts): once BREAKER_FAILURES consecutive calls have
    // failed the breaker opens, commands are paused (delayed nak, no retry budget spent) until its
    // retry-after, and one half-open probe per OPEN_MS reaches a LIS that stays down. So the calls that
    // reach the LIS during the outage are the opening burst (≤ failures + calls already in flight) plus
    // about OUTAGE_MS / OPEN_MS probes, and after the burst consecutive failed calls are ≥ OPEN_MS apart.
    // Without the breaker each command would retry on its own backoff (≈ ORDERS × log2(OUTAGE/base) calls).
    const requests = await fx.lisRequests();
    const mine = requests.filter((r) => r.idempotencyKey !== null && keys.includes(r.idempotencyKey));
    const failed = mine.filter((r) => r.status === null || r.status >= 500).map((r) => Date.parse(r.receivedAt)).sort((a, b) => a - b);
    const first = failed[0] as number;
    const burst = failed.filter((t) => t - first < OPEN_MS / 2);
    const probes = failed.slice(burst.length);
    const probeGaps = probes.map((t, i) => t - (i === 0 ? (burst.at(-1) as number) : (probes[i - 1] as number)));
    const perKey = keys.map((k) => mine.filter((r) => r.idempotencyKey === k).map((r) => Date.parse(r.receivedAt)).sort((a, b) => a - b));
    process.stdout.write(
      `outage: ${mine.length} LIS calls (${failed.length} failed: burst ${burst.length}, probes ${probes.length}, probe gaps ms ${probeGaps.join(',')}); ` +
        `calls per order ${perKey.map((p) => p.length).join(',')}\n`,
    );
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(burst.length).toBeLessThanOrEqual(BREAKER_FAILURES + LIS_MAX_CONCURRENCY);
    expect(probes.length).toBeLessThanOrEqual(Math.ceil(OUTAGE_MS / OPEN_MS) + 1);
    // the probe rate: gaps of at least one open period (minus timer and clock slack)
    for (const gap of probeGaps) expect(gap).toBeGreaterThanOrEqual(OPEN_MS - 300);
    // every order was eventually placed by one successful call (replays of its key would be extra 2xx)
    for (const k of keys) expect(mine.filter((r) => r.idempotencyKey === k && r.status !== null && r.status < 300).length).toBeGreaterThanOrEqual(1);
  }, 150_000);
});

describe('negative control: the same outage without the breaker and with a tiny transient budget', () => {
  const fx = meshFixture('e2e-outage-neg', {
    RETRY_POLICIES: JSON.stringify({ services: { lab: { classes: { transient: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: 'none' } } } } }),
    LIS_BREAKER_ENABLED: 'false',
  });

  beforeAll(() => fx.start(), 180_000);
  afterAll(() => fx.stop());

  it('loses every order to the outage: two immediate calls burn the budget, the lab answers rejected', async () => {
    const outageStart = Date.now();
    await fx.lisDown(OUTAGE_MS);
    await fx.sendOrders();
    // With its budget spent, the lab answers the saga (order-rejected, LIS_UNAVAILABLE) rather than
    // dead-lettering the command: the clinical outcome of the same outage is a rejected order.
    await expectEventually(
      async () => {
        for (let i = 0; i < ORDERS; i += 1) expect((await fx.order(i))?.status).toBe('rejected');
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    // the whole budget was spent while the LIS was still down: the retries did not outlast the outage
    expect(Date.now() - outageStart).toBeLessThan(OUTAGE_MS);
    const byKey = new Map<string, number[]>();
    for (const r of await fx.lisRequests()) {
      if (r.idempotencyKey === undefined || r.idempotencyKey === null) continue;
      byKey.set(r.idempotencyKey, [...(byKey.get(r.idempotencyKey) ?? []), Date.parse(r.receivedAt)]);
    }
    expect(byKey.size).toBe(ORDERS);
    for (const times of byKey.values()) {
      expect(times).toHaveLength(2);
      // plain naks: the second attempt follows the first within milliseconds
      expect((times[1] as number) - (times[0] as number)).toBeLessThan(1_000);
    }
    // and no order got a LIS placement
    const effects = (await fx.lisEffects()).filter((e) => e.operation === 'lis.place-order');
    expect(effects).toHaveLength(0);
  }, 120_000);
});
