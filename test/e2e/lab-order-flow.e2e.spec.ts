import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';

import { CONSUMERS, createNaming, laneStream, withPriorityLanes, type Naming } from '@lifeline/contracts';

import {
  ackCode,
  collectOtlpSpans,
  expectEventually,
  hl7Orm,
  hl7Oru,
  sendMllp,
  testAdminDatabaseUrl,
  testNatsUrl,
  uniquePrefix,
  type CollectedSpan,
  type OtlpSpanCollector,
} from '@lifeline/testing';

// The mesh as real processes (one per service) on the test run's NATS and PostgreSQL, with external-sim
// playing the LIS and the EHR inbox over HTTP. Black box: MLLP in, HTTP APIs and sim records out.
import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const SERVICES = ['ingest-gateway', 'normalizer', 'orders', 'saga-orchestrator', 'lab', 'notifications'] as const;

interface OrderView {
  order: { orderId: string; status: string };
  events: Array<{ type: string }>;
}
interface SimEffects {
  count: number;
  effects: Array<{ idempotencyKey: string; details?: Record<string, unknown>; replays?: number }>;
}
interface SimRequest {
  target: string;
  path: string;
  idempotencyKey?: string;
  status: number;
  replay: boolean;
}

describe('lab-order flow, end to end', () => {
  let mesh: MeshHandle;
  let collector: OtlpSpanCollector;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const prefix = uniquePrefix('e2e');
  const naming: Naming = createNaming(prefix);
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  const patientId = `MRN-${prefix}`;

  async function http<T>(service: string, path: string, init?: RequestInit): Promise<T> {
    const base = mesh.endpoints.http[service];
    const res = await fetch(`${base}${path}`, init);
    if (!res.ok) throw new Error(`${service} ${path} → ${res.status}`);
    return (await res.json()) as T;
  }

  async function send(message: string): Promise<string> {
    return sendMllp({ host: mesh.endpoints.mllp.host, port: mesh.endpoints.mllp.port, message, timeoutMs: 15_000 });
  }

  async function orderByPlacer(placer: string): Promise<OrderView> {
    const { orders } = await http<{ orders: Array<{ orderId: string }> }>('orders', `/orders?placerOrderNumber=${placer}`);
    expect(orders).toHaveLength(1);
    return http<OrderView>('orders', `/orders/${encodeURIComponent((orders[0] as { orderId: string }).orderId)}`);
  }

  /** Every consumer of the topology has nothing pending and the streams stopped growing. */
  async function waitQuiet(): Promise<void> {
    let last = '';
    await expectEventually(
      async () => {
        for (const c of withPriorityLanes(CONSUMERS)) {
          const info = await jsm.consumers.info(naming.stream(c.stream), naming.durable(c.durable));
          expect({ durable: c.durable, pending: info.num_pending + info.num_ack_pending }).toEqual({ durable: c.durable, pending: 0 });
        }
        const streams = ['CLINICAL', 'COMMANDS'].flatMap((st) => [st, laneStream(st, 'stat')]);
        const seqs = await Promise.all(streams.map(async (st) => (await jsm.streams.info(naming.stream(st))).state.last_seq));
        const now = seqs.join(',');
        const stable = now === last;
        last = now;
        expect(stable).toBe(true);
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  }

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    collector = await collectOtlpSpans();
    mkdirSync(logsDir, { recursive: true });
    mesh = await startMesh({
      root: ROOT,
      natsUrl: testNatsUrl(),
      adminDatabaseUrl: testAdminDatabaseUrl(),
      prefix,
      logsDir,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // the forced redelivery below: the EHR answers slower than this
        EHR_TIMEOUT_MS: '1000',
        LOG_LEVEL: 'info',
      },
    });
  }, 180_000);

  afterAll(async () => {
    // what the external systems saw, beside the service logs, for whoever reads a failed run
    const sim = mesh?.endpoints.http['external-sim'];
    if (sim) {
      const requests = await fetch(`${sim}/_sim/requests`).then((r) => r.text()).catch(() => '[]');
      writeFileSync(join(logsDir, 'external-sim-requests.json'), requests);
    }
    await mesh?.stop();
    await collector?.close();
    await nc?.drain();
  });

  it('carries an ORM and its ORU to a completed order with exactly one EHR notification, in one trace per event', async () => {
    const placer = `P${prefix.replace(/[^a-z0-9]/g, '').slice(-10)}`;
    // force one redelivery of the notify command: the EHR records the message but answers after the
    // notifications service gave up (1 s), so the command is nak'ed and delivered a second time
    await http('external-sim', '/_sim/faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'ehr', mode: 'slow', delayMs: 2_500, count: 1 }),
    });

    const ormAck = await send(hl7Orm({ controlId: `${prefix}-orm-1`, placerOrderNumber: placer, patientId, testCode: 'K' }));
    expect(ackCode(ormAck)).toBe('AA');
    await expectEventually(async () => expect((await orderByPlacer(placer)).order.status).toBe('accepted'), { timeoutMs: 30_000 });

    const oruAck = await send(
      hl7Oru({ controlId: `${prefix}-oru-1`, placerOrderNumber: placer, patientId, testCode: 'K', observations: [{ code: 'K', value: 4.1, units: 'mmol/L', range: '3.5-5.1' }] }),
    );
    expect(ackCode(oruAck)).toBe('AA');

    const view = await expectEventually(
      async () => {
        const v = await orderByPlacer(placer);
        expect(v.order.status).toBe('completed');
        return v;
      },
      { timeoutMs: 60_000 },
    );
    expect(view.events.map((e) => e.type)).toEqual(expect.arrayContaining(['OrderPlaced', 'LabAccepted', 'ResultRecorded', 'ClinicianNotified', 'OrderCompleted']));

    // exactly one notification in the EHR inbox, although the command was delivered twice
    const ehrRequests = await http<{ requests: SimRequest[] } | SimRequest[]>('external-sim', '/_sim/requests?target=ehr');
    const requests = Array.isArray(ehrRequests) ? ehrRequests : ehrRequests.requests;
    const effects = await http<SimEffects>('external-sim', '/_sim/effects/ehr');
    const orderId = view.order.orderId;
    const mine = effects.effects.filter((e) => JSON.stringify(e).includes(orderId));
    expect(mine).toHaveLength(1);
    const key = (mine[0] as { idempotencyKey: string }).idempotencyKey;
    expect(requests.filter((r) => r.idempotencyKey === key).length).toBeGreaterThanOrEqual(2);

    // one trace for the result: gateway → normalizer → lab → saga → notifications → saga → orders
    const oruTrace = await expectEventually(
      () => {
        const trace = traceOfControlId(collector.spans(), `${prefix}-oru-1`);
        const services = new Set(trace.map((s) => s.serviceName));
        for (const s of SERVICES) expect(services).toContain(s);
        // spans are exported in batches: a parent may arrive after its children
        assertParentChain(trace);
        return trace;
      },
      { timeoutMs: 20_000 },
    );
    expect(oruTrace.length).toBeGreaterThan(10);
    // every message that crossed an outbox was published by a relay batch whose `send outbox` span (a
    // root of its own) links to the message's creation context in this trace (OUTBOX_RELAY_SPANS=batch)
    await expectEventually(
      () => {
        const spans = collector.spans();
        const trace = traceOfControlId(spans, `${prefix}-oru-1`);
        const inTrace = new Set(trace.map((s) => s.spanId));
        const linkedHere = spans.filter((s) => s.name === 'send outbox' && s.links.some((l) => inTrace.has(l.spanId)));
        for (const s of linkedHere) expect(s.parentSpanId).toBeUndefined();
        const relaying = new Set(linkedHere.map((s) => s.serviceName));
        for (const s of ['normalizer', 'lab', 'saga-orchestrator', 'notifications']) expect(relaying).toContain(s);
      },
      { timeoutMs: 20_000 },
    );
    // the ORM's own trace reaches the LIS acceptance and back
    await expectEventually(
      () => {
        const ormTrace = traceOfControlId(collector.spans(), `${prefix}-orm-1`);
        for (const s of ['ingest-gateway', 'normalizer', 'orders', 'saga-orchestrator', 'lab']) {
          expect(new Set(ormTrace.map((x) => x.serviceName))).toContain(s);
        }
        assertParentChain(ormTrace);
      },
      { timeoutMs: 20_000 },
    );
  });

  it('changes nothing when the same ORM is sent again, with the same or a new MSH-10', async () => {
    const placer = `D${prefix.replace(/[^a-z0-9]/g, '').slice(-10)}`;
    const orm = (controlId: string): string => hl7Orm({ controlId, placerOrderNumber: placer, patientId, testCode: 'CBC' });
    // a resend is the same bytes (MSH-7 included): the gateway answers a changed message under a known
    // MSH-10 with AR, by design (RELIABILITY R17)
    const first = orm(`${prefix}-dup-1`);
    const firstAck = await send(first);
    expect(ackCode(firstAck)).toBe('AA');
    await expectEventually(async () => expect((await orderByPlacer(placer)).order.status).toBe('accepted'), { timeoutMs: 30_000 });
    const before = await orderByPlacer(placer);
    const lisBefore = (await http<SimEffects>('external-sim', '/_sim/effects/lis')).count;

    expect(await send(first)).toBe(firstAck); // exact resend: the byte-identical original ACK
    expect(ackCode(await send(orm(`${prefix}-dup-2`)))).toBe('AA'); // same order, new control id
    // both resends have gone through every consumer before we compare
    await waitQuiet();

    const after = await orderByPlacer(placer);
    expect(after.events).toHaveLength(before.events.length);
    expect((await http<SimEffects>('external-sim', '/_sim/effects/lis')).count).toBe(lisBefore);
  });

  it('answers a malformed frame with AR and keeps serving', async () => {
    const ack = await send('THIS IS NOT HL7\rPID|||1');
    expect(ackCode(ack)).toBe('AR');
    expect(ack).toContain('ERR|');
    const ok = await send(hl7Orm({ controlId: `${prefix}-after-bad`, placerOrderNumber: `B${Date.now()}`, patientId }));
    expect(ackCode(ok)).toBe('AA');
  });

  it('leaves no dead letters behind from the healthy flow', async () => {
    await waitQuiet();
    const info = await jsm.streams.info(naming.stream('DLQ'));
    expect(info.state.messages).toBe(0);
  });
});

/** All spans of the trace whose gateway span carries this MSH-10. */
function traceOfControlId(spans: CollectedSpan[], controlId: string): CollectedSpan[] {
  const root = spans.find((s) => s.serviceName === 'ingest-gateway' && s.attributes['lifeline.hl7.control_id'] === controlId);
  if (!root) return [];
  return spans.filter((s) => s.traceId === root.traceId);
}

/** Exactly one root; every other span's parent is in the same trace. */
function assertParentChain(trace: CollectedSpan[]): void {
  const ids = new Set(trace.map((s) => s.spanId));
  const roots = trace.filter((s) => !s.parentSpanId);
  expect(roots.map((s) => `${s.serviceName}:${s.name}`)).toEqual(['ingest-gateway:receive mllp']);
  const orphans = trace.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
  expect(orphans.map((s) => `${s.serviceName}:${s.name}`)).toEqual([]);
  // every consumer span hangs below the gateway's span (the chain crosses processes through NATS headers)
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  for (const s of trace.filter((x) => x.name.startsWith('process '))) {
    let cur: CollectedSpan | undefined = s;
    let hops = 0;
    while (cur?.parentSpanId && hops < 200) {
      cur = byId.get(cur.parentSpanId);
      hops += 1;
    }
    expect(cur?.name).toBe('receive mllp');
  }
}
