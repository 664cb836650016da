import { mkdirSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';

import { CONSUMERS, SUBJECTS, createNaming, isStatLane, routineSubject, withPriorityLanes, type Naming } from '@lifeline/contracts';
import { ackCode, expectEventually, hl7Orm, hl7Oru, sendMllp, testAdminDatabaseUrl, testNatsUrl, uniquePrefix } from '@lifeline/testing';

// Priority lanes end to end (lanes.ts): a stat order and its result must not queue behind a routine
// backlog anywhere in the mesh (gateway → INGEST → normalizer → CLINICAL/COMMANDS → lab, LIS, saga,
// notifications, EHR). Real processes on the run's NATS and PostgreSQL, external-sim as LIS and EHR.
// Positional, not timed: we count how much of the backlog the LIS had accepted when the probe completed.
import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
// ~ several seconds of LIS acceptances on a 2-core box, sent in well under a second
const BACKLOG = 600;
const CONNECTIONS = 8;
const PATIENTS = 5;
// the LIS/EHR guards protect the external systems; lifted (as in the bench) so the lanes are measured
const DOWNSTREAM_UNLIMITED = { EHR_RATE_PER_S: '10000', EHR_MAX_CONCURRENCY: '64', LIS_RATE_PER_S: '10000', LIS_MAX_CONCURRENCY: '64' };
const ACCEPTED: string = SUBJECTS.clinical.labOrderAccepted;
const COMPLETED: string = SUBJECTS.clinical.workflowLabOrderCompleted;
// the probe's hops that carry its order id (its billing charge aside, see lanesOf)
const PROBE_HOPS: readonly string[] = [
  SUBJECTS.clinical.orderPlaced,
  SUBJECTS.commands.labAcceptOrder,
  ACCEPTED,
  SUBJECTS.clinical.resultReceived,
  SUBJECTS.clinical.labResultRecorded,
  SUBJECTS.commands.notifyClinician,
  SUBJECTS.clinical.notificationDelivered,
  COMPLETED,
];
const onLane = (lane: 'S' | 'R'): Record<string, 'S' | 'R'> => Object.fromEntries(PROBE_HOPS.map((t) => [t, lane]));
const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** One persistent MLLP connection, one message in flight at a time. */
class MllpConnection {
  private buffer = Buffer.alloc(0);
  private pending: { resolve: (ack: string) => void; reject: (err: Error) => void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      const start = this.buffer.indexOf(VT);
      const end = this.buffer.indexOf(FS, start + 1);
      if (start === -1 || end === -1) return;
      const ack = this.buffer.subarray(start + 1, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 2);
      this.pending?.resolve(ack);
    });
    socket.on('error', (err) => this.pending?.reject(err));
    socket.on('close', () => this.pending?.reject(new Error('MLLP connection closed')));
  }

  static open(host: string, port: number): Promise<MllpConnection> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host, port }, () => resolve(new MllpConnection(socket)));
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  send(message: string, timeoutMs = 15_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(() => reject(new Error('no MLLP ACK in time'))), timeoutMs);
      const settle = (f: () => void): void => {
        clearTimeout(timer);
        this.pending = undefined;
        f();
      };
      this.pending = { resolve: (a) => settle(() => resolve(a)), reject: (e) => settle(() => reject(e)) };
      this.socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(message, 'utf8'), Buffer.from([FS, CR])]));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends every message over `connections` persistent connections; resolves with the MSA-1 codes. */
async function sendOverPool(mesh: MeshHandle, messages: readonly string[], connections: number): Promise<Array<string | undefined>> {
  const pool = await Promise.all(Array.from({ length: connections }, () => MllpConnection.open(mesh.endpoints.mllp.host, mesh.endpoints.mllp.port)));
  const codes: Array<string | undefined> = [];
  let next = 0;
  try {
    await Promise.all(
      pool.map(async (conn) => {
        for (let i = next++; i < messages.length; i = next++) codes[i] = ackCode(await conn.send(messages[i] as string));
      }),
    );
  } finally {
    for (const conn of pool) conn.close();
  }
  return codes;
}

interface Sighting {
  type: string;
  orderId: string;
  stat: boolean;
  at: number;
}

/**
 * Every CLINICAL event and command of the prefix, in arrival order (a core subscription: both lanes,
 * no consumer of its own). Only subjects and order ids are kept, never payloads.
 */
async function laneWatcher(natsUrl: string, naming: Naming) {
  const nc = await connect({ servers: natsUrl, name: 'stat-lane-watch' });
  const seen: Sighting[] = [];
  const first = new Map<string, number>(); // `${type}|${orderId}` → index in seen
  const waiting = new Map<string, (index: number) => void>();
  const dec = new TextDecoder();
  const onMessage = (subject: string, data: Uint8Array): void => {
    const unprefixed = naming.unprefix(subject);
    let orderId: unknown;
    try {
      orderId = (JSON.parse(dec.decode(data)) as { orderId?: unknown }).orderId;
    } catch {
      return;
    }
    if (typeof orderId !== 'string') return;
    const type = routineSubject(unprefixed);
    const key = `${type}|${orderId}`;
    // the relay may publish a row twice (JetStream dedups it, a core subscriber does not): first wins
    if (first.has(key)) return;
    first.set(key, seen.push({ type, orderId, stat: isStatLane(unprefixed), at: performance.now() }) - 1);
    waiting.get(key)?.(first.get(key) as number);
  };
  // both lanes: the stat lane is `stat.<root>.…` (its own streams)
  for (const root of ['clinical.>', 'cmd.>', 'stat.clinical.>', 'stat.cmd.>']) nc.subscribe(naming.subject(root), { callback: (_err, msg) => onMessage(msg.subject, msg.data) });
  await nc.flush();
  return {
    get length(): number {
      return seen.length;
    },
    /** Lane of each of the order's events, billing aside (routine by design: createChargeCommand). */
    lanesOf: (orderId: string): Record<string, 'S' | 'R'> =>
      Object.fromEntries(seen.filter((s) => s.orderId === orderId && !s.type.includes('billing')).map((s) => [s.type, s.stat ? 'S' : 'R'])),
    /** Index of the first `type` event of the order, waiting for it if not seen yet. */
    wait(type: string, orderId: string, timeoutMs: number): Promise<number> {
      const key = `${type}|${orderId}`;
      const known = first.get(key);
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          reject(new Error(`${type} of ${orderId} not seen within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(key, (index) => {
          clearTimeout(timer);
          waiting.delete(key);
          resolve(index);
        });
      });
    },
    /** Distinct orders with a `type` event among the first `before` sightings. */
    countBefore(type: string, orderIds: ReadonlySet<string>, before: number): number {
      return seen.slice(0, before).filter((s) => s.type === type && orderIds.has(s.orderId)).length;
    },
    /** The order's events in arrival order: short type, lane, ms since `t0`, backlog accepted so far. */
    path(orderId: string, t0: number, backlog: ReadonlySet<string>): string {
      return seen
        .map((s, i) => ({ s, i }))
        .filter(({ s }) => s.orderId === orderId)
        .map(({ s, i }) => `${s.type.replace(/^(clinical|cmd)\./, '').replace(/\.v1$/, '')}[${s.stat ? 'S' : 'R'}]@${Math.round(s.at - t0)}ms/${this.countBefore(ACCEPTED, backlog, i)}`)
        .join(' → ');
    },
    close: () => nc.drain(),
  };
}

describe('priority lanes, end to end: a routine backlog does not delay a stat order', () => {
  const prefix = uniquePrefix('e2e-stat');
  const naming = createNaming(prefix);
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  const suffix = prefix.replace(/[^a-z0-9]/g, '').slice(-6);
  let mesh: MeshHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let watcher: Awaited<ReturnType<typeof laneWatcher>>;

  /** Every consumer (both lanes) has nothing pending: the previous scenario's work is done. */
  async function waitQuiet(): Promise<void> {
    await expectEventually(
      async () => {
        for (const c of withPriorityLanes(CONSUMERS)) {
          const info = await jsm.consumers.info(naming.stream(c.stream), naming.durable(c.durable));
          expect({ durable: c.durable, pending: info.num_pending + info.num_ack_pending }).toEqual({ durable: c.durable, pending: 0 });
        }
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'mesh quiet before the next backlog' },
    );
  }

  /**
   * A routine backlog of BACKLOG ORMs, then right after its last AA a probe ORM (`priority`), its ORU
   * once the LIS accepted it, until the workflow completed. Placer numbers `<ns>B<i>` / `<ns>P`.
   */
  async function scenario(ns: string, priority: 'S' | 'R') {
    await waitQuiet();
    const backlogPlacers = Array.from({ length: BACKLOG }, (_, i) => `${ns}${suffix}B${i}`);
    const backlog = new Set(backlogPlacers.map((p) => `LIFELINE:${p}`));
    const orms = backlogPlacers.map((placer, i) => hl7Orm({ controlId: `${placer}-orm`, placerOrderNumber: placer, patientId: `MRN-${ns}${suffix}-${i % PATIENTS}`, testCode: 'CBC', priority: 'R' }));
    const codes = await sendOverPool(mesh, orms, CONNECTIONS);
    expect(codes.filter((c) => c === 'AA')).toHaveLength(BACKLOG);

    const placer = `${ns}${suffix}P`;
    const probe = `LIFELINE:${placer}`;
    const patientId = `MRN-${ns}${suffix}-probe`;
    const send = (message: string): Promise<string> => sendMllp({ host: mesh.endpoints.mllp.host, port: mesh.endpoints.mllp.port, message, timeoutMs: 15_000 });
    const t0 = performance.now();
    const atProbe = watcher.countBefore(ACCEPTED, backlog, watcher.length);
    expect(ackCode(await send(hl7Orm({ controlId: `${placer}-orm`, placerOrderNumber: placer, patientId, testCode: 'K', priority })))).toBe('AA');
    await watcher.wait(ACCEPTED, probe, 90_000);
    // a stat order's result comes back stat: the LIS echoes the priority in OBR-5
    const oru = hl7Oru({ controlId: `${placer}-oru`, placerOrderNumber: placer, patientId, testCode: 'K', obrPriority: priority === 'S' ? 'S' : undefined, observations: [{ code: 'K', value: 4.1, units: 'mmol/L', range: '3.5-5.1' }] });
    expect(ackCode(await send(oru))).toBe('AA');
    const completedAt = await watcher.wait(COMPLETED, probe, 90_000);
    const acceptedBefore = watcher.countBefore(ACCEPTED, backlog, completedAt);
    process.stdout.write(
      `stat-lane ${priority === 'S' ? 'stat probe' : 'routine control'}: backlog accepted at probe send ${atProbe}/${BACKLOG}, ` +
        `at probe completion ${acceptedBefore}/${BACKLOG}\n  probe path (event[lane]@ms since ORM/backlog accepted): ${watcher.path(probe, t0, backlog)}\n`,
    );
    return {
      acceptedBefore,
      atProbe,
      lanes: watcher.lanesOf(probe),
      drained: () => expectEventually(() => expect(watcher.countBefore(ACCEPTED, backlog, watcher.length)).toBe(BACKLOG), { timeoutMs: 90_000, intervalMs: 250, message: 'whole backlog accepted' }),
    };
  }

  beforeAll(async () => {
    mkdirSync(logsDir, { recursive: true });
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    mesh = await startMesh({ root: ROOT, natsUrl: testNatsUrl(), adminDatabaseUrl: testAdminDatabaseUrl(), prefix, logsDir, env: { LOG_LEVEL: 'warn', ...DOWNSTREAM_UNLIMITED } });
    watcher = await laneWatcher(testNatsUrl(), naming);
  }, 180_000);

  afterAll(async () => {
    await watcher?.close();
    await mesh?.stop();
    await nc?.drain();
  });

  it('completes a stat order (ORM, then its OBR-5 S result) before the LIS has accepted half of a routine backlog sent just ahead of it', async () => {
    const r = await scenario('SL', 'S');
    // the backlog was really queued when the probe went in
    expect(r.atProbe).toBeLessThan(BACKLOG / 2);
    expect(r.lanes).toEqual(onLane('S'));
    // Completion also waits for the routine-lane billing charge; an ORM backlog leaves billing idle, so
    // this measures the clinical lanes (a billing backlog would gate it: see the lanesOf note).
    expect(r.acceptedBefore).toBeLessThan(BACKLOG / 2);
    // nothing of the backlog is lost behind the stat order
    await r.drained();
  }, 150_000);

  it('negative control: a routine probe sent the same way completes only after at least half of its backlog was accepted', async () => {
    const r = await scenario('RL', 'R');
    // same precondition as above, or this control would pass trivially
    expect(r.atProbe).toBeLessThan(BACKLOG / 2);
    expect(r.lanes).toEqual(onLane('R'));
    expect(r.acceptedBefore).toBeGreaterThanOrEqual(BACKLOG / 2);
    await r.drained();
  }, 150_000);
});
