// Stages on the real mesh (services as processes): MLLP durable-ACK, the lab-order flow, STAT latency.
import { mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';

import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { LANED_STREAMS, createNaming, laneStream } from '@lifeline/contracts';
import { deleteTopology } from '@lifeline/messaging';
import { hl7Orm, hl7Oru } from '@lifeline/testing';

import { startMesh } from '../../tools/mesh/mesh-lib.mjs';
import { benchPrefix, closedLoop, dropDatabases, latencySummary, now, openLoop, padHl7, sleep } from './common.mjs';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** One persistent MLLP connection; send() resolves with the ACK text (one message at a time). */
class MllpConnection {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.pending = undefined;
    socket.on('data', (chunk) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      const start = this.buffer.indexOf(VT);
      const end = this.buffer.indexOf(FS, start + 1);
      if (start === -1 || end === -1) return;
      const ack = this.buffer.subarray(start + 1, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 2);
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(ack);
    });
    socket.on('error', (err) => this.pending?.reject(err));
    socket.on('close', () => this.pending?.reject(new Error('MLLP connection closed')));
  }
  static open(host, port) {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host, port }, () => resolve(new MllpConnection(s)));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  }
  send(message, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no MLLP ACK in time')), timeoutMs);
      this.pending = {
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(message, 'utf8'), Buffer.from([FS, CR])]));
    });
  }
  close() {
    this.socket.destroy();
  }
}

/** A pool of persistent connections; send() waits for a free one. */
class MllpPool {
  static async open(host, port, size) {
    const pool = new MllpPool();
    pool.free = await Promise.all(Array.from({ length: size }, () => MllpConnection.open(host, port)));
    pool.all = [...pool.free];
    pool.waiters = [];
    return pool;
  }
  async send(message) {
    const conn = this.free.pop() ?? (await new Promise((r) => this.waiters.push(r)));
    try {
      return await conn.send(message);
    } finally {
      const w = this.waiters.shift();
      if (w) w(conn);
      else this.free.push(conn);
    }
  }
  close() {
    for (const c of this.all) c.close();
  }
}

const ackCode = (ack) => ack.split('\r').find((s) => s.startsWith('MSA|'))?.split('|')[1];

/** Starts the mesh (or only some services) on a private prefix; returns { mesh, naming, cleanup }. */
export async function startBenchMesh({ root, natsUrl, adminUrl, services, label, env = {}, log }) {
  const prefix = benchPrefix(label);
  const logsDir = join(root, 'bench', 'results', 'tmp', 'logs', prefix);
  mkdirSync(logsDir, { recursive: true });
  const t = now();
  const naming = createNaming(prefix);
  const dropAll = async () => {
    const nc = await connect({ servers: natsUrl });
    await deleteTopology({ nc, naming }).catch(() => undefined);
    await nc.drain();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix.replace(/-/g, '_')}\\_%`]);
    await admin.end();
    await dropDatabases(adminUrl, rows.map((r) => r.datname));
  };
  let mesh;
  try {
    mesh = await startMesh({ root, natsUrl, adminDatabaseUrl: adminUrl, prefix, logsDir, services, env: { LOG_LEVEL: 'warn', ...env }, log: (l) => log?.(`  [mesh] ${l.trim()}`) });
  } catch (err) {
    // startMesh stops what it started; the streams and databases it created are ours to remove
    await dropAll().catch(() => undefined);
    throw err;
  }
  log?.(`  mesh ${prefix} up in ${((now() - t) / 1000).toFixed(1)} s`);
  const cleanup = async () => {
    await mesh.stop().catch(() => undefined);
    await dropAll();
  };
  return { mesh, naming, prefix, cleanup };
}

/**
 * MLLP durable-ACK: `connections` persistent connections, closed loop, each ORM acknowledged only after
 * the gateway's PubAck from INGEST. Gateway alone (nothing downstream competes for the CPU).
 */
export async function mllpThroughput({ mesh, connections, count, deadlineMs, padBytes, runId }) {
  const pool = await MllpPool.open(mesh.endpoints.mllp.host, mesh.endpoints.mllp.port, connections);
  const lat = [];
  let errors = 0;
  try {
    const r = await closedLoop({
      workers: connections,
      count,
      deadlineMs,
      work: async (i) => {
        const msg = padHl7(hl7Orm({ controlId: `${runId}-m${connections}-${i}`, placerOrderNumber: `M${runId}${connections}x${i}`, patientId: `MRN-${runId}` }), padBytes);
        const t = now();
        const ack = await pool.send(msg);
        lat.push(now() - t);
        if (ackCode(ack) !== 'AA') errors += 1;
      },
    });
    return { connections, count: r.done, errors, seconds: r.seconds, perSecond: r.done / r.seconds, ackLatencyMs: latencySummary(lat) };
  } finally {
    pool.close();
  }
}

/** Watches CLINICAL for each order's acceptance and completion (core subscription on the prefix; both lanes). */
async function orderWatcher(natsUrl, naming) {
  const nc = await connect({ servers: natsUrl, name: 'bench-flow-watch' });
  const waiting = new Map(); // `${kind}|${orderId}` → resolve
  const seen = new Map();
  const dec = new TextDecoder();
  const kinds = { 'clinical.lab.order-accepted.v1': 'accepted', 'clinical.workflow.lab-order-completed.v1': 'completed' };
  // STAT orders travel on their own lane (stat.clinical.…, stat.cmd.…, in streams of their own)
  const callback = (_err, msg) => {
    const kind = kinds[naming.unprefix(msg.subject).replace(/^stat\./, '')];
    if (!kind) return;
    let orderId;
    try {
      orderId = JSON.parse(dec.decode(msg.data)).orderId;
    } catch {
      return;
    }
    const key = `${kind}|${orderId}`;
    const r = waiting.get(key);
    if (r) {
      waiting.delete(key);
      r(now());
    } else seen.set(key, now());
  };
  for (const root of ['clinical.>', 'stat.clinical.>']) nc.subscribe(naming.subject(root), { callback });
  await nc.flush();
  return {
    wait(kind, orderId, timeoutMs) {
      const key = `${kind}|${orderId}`;
      const t = seen.get(key);
      if (t !== undefined) {
        seen.delete(key);
        return Promise.resolve(t);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          reject(new Error(`${kind} of ${orderId} not seen within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(key, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
    },
    close: () => nc.drain(),
  };
}

async function streamSeqs(jsm, naming) {
  let total = 0;
  for (const s of LANED_STREAMS.flatMap((n) => [n, laneStream(n, 'stat')])) total += (await jsm.streams.info(naming.stream(s))).state.last_seq;
  return total;
}

/**
 * The lab-order flow end to end. One "pair": ORM → (LIS accepted) → ORU → workflow completed (the
 * clinician notified on the way). Latency = ORM sent → completion seen. Events/s = messages appended to
 * INGEST + CLINICAL + COMMANDS per second (10 per pair: 2 raw, 6 canonical, 2 commands).
 */
export async function flow({ natsUrl, mesh, naming, runId, mode, rate, workers, count, deadlineMs, padBytes, priority, pairTimeoutMs = 60_000 }) {
  const watcher = await orderWatcher(natsUrl, naming);
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  const pool = await MllpPool.open(mesh.endpoints.mllp.host, mesh.endpoints.mllp.port, 16);
  const lat = [];
  let failures = 0;
  let firstError;
  const pair = async (i) => {
    const placer = `F${runId}${mode[0]}${i}`;
    const orderId = `LIFELINE:${placer}`;
    const patientId = `MRN-${runId}-${i % 97}`;
    try {
      const t0 = now();
      const accepted = watcher.wait('accepted', orderId, pairTimeoutMs);
      const completed = watcher.wait('completed', orderId, pairTimeoutMs);
      accepted.catch(() => undefined);
      completed.catch(() => undefined);
      const ormAck = await pool.send(padHl7(hl7Orm({ controlId: `${placer}-orm`, placerOrderNumber: placer, patientId, testCode: 'K', priority }), padBytes));
      if (ackCode(ormAck) !== 'AA') throw new Error(`ORM ACK ${ackCode(ormAck)}`);
      await accepted;
      const oruAck = await pool.send(
        // a stat order's result comes back stat: the LIS echoes the priority in OBR-5
        hl7Oru({ controlId: `${placer}-oru`, placerOrderNumber: placer, patientId, testCode: 'K', obrPriority: priority === 'S' ? 'S' : undefined, observations: [{ code: 'K', value: 4.1, units: 'mmol/L', range: '3.5-5.1' }] }),
      );
      if (ackCode(oruAck) !== 'AA') throw new Error(`ORU ACK ${ackCode(oruAck)}`);
      const done = await completed;
      lat.push(done - t0);
    } catch (err) {
      failures += 1;
      firstError ??= err.message;
    }
  };
  try {
    const seq0 = await streamSeqs(jsm, naming);
    const t0 = now();
    const r = mode === 'open' ? await openLoop({ rate, count, deadlineMs, work: pair }) : await closedLoop({ workers, count, deadlineMs, work: pair });
    const seconds = (now() - t0) / 1000;
    const events = (await streamSeqs(jsm, naming)) - seq0;
    const pairs = r.sent ?? r.done;
    return {
      mode,
      ...(mode === 'open' ? { targetPairsPerSecond: rate } : { workers }),
      pairs,
      completed: lat.length,
      failures,
      firstError,
      seconds,
      events,
      eventsPerSecond: events / seconds,
      pairsPerSecond: lat.length / seconds,
      latencyMs: latencySummary(lat),
    };
  } finally {
    pool.close();
    await watcher.close();
    await nc.drain();
  }
}

/**
 * STAT orders: latency of sequential STAT pairs when idle, then while a backlog of routine ORMs
 * (`backlog` sent as fast as the gateway ACKs them) is being worked off. Ratio = p99 backlog ÷ p99 idle.
 */
export async function statLatency({ natsUrl, mesh, naming, runId, samples, backlog, padBytes, deadlineMs }) {
  const idle = await flow({ natsUrl, mesh, naming, runId: `${runId}i`, mode: 'closed', workers: 1, count: samples, deadlineMs, padBytes, priority: 'S' });
  const pool = await MllpPool.open(mesh.endpoints.mllp.host, mesh.endpoints.mllp.port, 16);
  const t = now();
  let sent = 0;
  try {
    await closedLoop({
      workers: 16,
      count: backlog,
      deadlineMs,
      work: async (i) => {
        const placer = `R${runId}b${i}`;
        await pool.send(padHl7(hl7Orm({ controlId: `${placer}-orm`, placerOrderNumber: placer, patientId: `MRN-${runId}-b`, testCode: 'CBC', priority: 'R' }), padBytes));
        sent += 1;
      },
    });
  } finally {
    pool.close();
  }
  const backlogSendSeconds = (now() - t) / 1000;
  const busy = await flow({ natsUrl, mesh, naming, runId: `${runId}b`, mode: 'closed', workers: 1, count: samples, deadlineMs, padBytes, priority: 'S', pairTimeoutMs: 120_000 });
  await sleep(0);
  return {
    samples,
    backlog: sent,
    backlogSendSeconds,
    idleMs: idle.latencyMs,
    backlogMs: busy.latencyMs,
    failures: idle.failures + busy.failures,
    firstError: idle.firstError ?? busy.firstError,
    ratio: busy.latencyMs.p99 / idle.latencyMs.p99,
  };
}

/** Waits (bounded) until every consumer of the prefix has nothing pending, so clean-up is quiet. */
export async function waitDrained(natsUrl, naming, timeoutMs) {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  const end = now() + timeoutMs;
  try {
    while (now() < end) {
      let pending = 0;
      for (const s of LANED_STREAMS.flatMap((n) => [n, laneStream(n, 'stat')])) {
        for await (const c of jsm.consumers.list(naming.stream(s))) pending += c.num_pending + c.num_ack_pending;
      }
      if (pending === 0) return true;
      await sleep(500);
    }
    return false;
  } finally {
    await nc.drain();
  }
}
