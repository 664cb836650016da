// Physical baselines: raw JetStream, raw PostgreSQL and a hand-written "no framework" hop.
import { randomUUID } from 'node:crypto';

import pg from 'pg';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';

import { HOP_SCHEMA, HOP_SQL, closedLoop, createDatabase, latencySummary, now, sleep } from './common.mjs';

const NS = 1_000_000;

/** A private stream `<PREFIX>_RAW` on `<prefix>.raw.>` with the topology's settings (file, 2 min dedupe). */
export async function createRawStream(nc, prefix) {
  const jsm = await jetstreamManager(nc);
  const name = `${prefix.toUpperCase().replace(/-/g, '_')}_RAW`;
  await jsm.streams.add({ name, subjects: [`${prefix}.raw.>`], storage: StorageType.File, num_replicas: 1, duplicate_window: 120_000 * NS, max_age: 3_600_000 * NS });
  return { name, subject: (s) => `${prefix}.raw.${s}`, delete: () => jsm.streams.delete(name).catch(() => undefined) };
}

function envelopeHeaders(id) {
  const h = natsHeaders();
  h.set('ce-id', id);
  h.set('ce-type', 'raw.bench.v1');
  h.set('ce-source', 'bench');
  h.set('content-type', 'application/hl7-v2');
  return h;
}

/** B_js_async: publishes with msgID, `window` PubAcks outstanding. */
export async function jsAsync(nc, stream, { count, window, deadlineMs, payload }) {
  const js = jetstream(nc, { timeout: 10_000 });
  const body = new TextEncoder().encode(payload);
  const inflight = new Set();
  const started = now();
  let sent = 0;
  for (; sent < count && now() - started < deadlineMs; sent += 1) {
    const id = randomUUID();
    const p = js.publish(stream.subject('async'), body, { msgID: id, headers: envelopeHeaders(id) }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const seconds = (now() - started) / 1000;
  return { count: sent, seconds, perSecond: sent / seconds };
}

/** B_js_sync: one publish at a time, each PubAck awaited (per-message latency). */
export async function jsSync(nc, stream, { count, deadlineMs, payload }) {
  const js = jetstream(nc, { timeout: 10_000 });
  const body = new TextEncoder().encode(payload);
  const lat = [];
  const started = now();
  for (let i = 0; i < count && now() - started < deadlineMs; i += 1) {
    const id = randomUUID();
    const t = now();
    await js.publish(stream.subject('sync'), body, { msgID: id, headers: envelopeHeaders(id) });
    lat.push(now() - t);
  }
  const seconds = (now() - started) / 1000;
  return { count: lat.length, seconds, perSecond: lat.length / seconds, latencyMs: latencySummary(lat) };
}

async function preload(nc, subject, { count, payload }) {
  const js = jetstream(nc, { timeout: 10_000 });
  const body = new TextEncoder().encode(payload);
  const inflight = new Set();
  for (let i = 0; i < count; i += 1) {
    const id = randomUUID();
    const p = js.publish(subject, body, { msgID: id, headers: envelopeHeaders(id) }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 256) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

async function addDurable(nc, stream, durable, filter) {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream.name, {
    durable_name: durable,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30_000 * NS,
    max_ack_pending: 1_000,
  });
  return jetstream(nc).consumers.get(stream.name, durable);
}

/** B_js_consume: durable pull consumer, consume() + ack of `count` pre-loaded messages. */
export async function jsConsume(nc, stream, { count, deadlineMs, payload }) {
  await preload(nc, stream.subject('consume'), { count, payload });
  const consumer = await addDurable(nc, stream, 'bench-consume', stream.subject('consume'));
  const started = now();
  const messages = await consumer.consume({ max_messages: 256 });
  let got = 0;
  const timer = setTimeout(() => messages.stop(), deadlineMs);
  for await (const m of messages) {
    m.ack();
    got += 1;
    if (got >= count) break;
  }
  clearTimeout(timer);
  messages.stop();
  const seconds = (now() - started) / 1000;
  return { count: got, seconds, perSecond: got / seconds };
}

/** Creates the hop's tables (outbox, inbox, events: the libs' migrations' DDL) in a new database. */
export async function createHopDatabase(adminUrl, name) {
  const db = await createDatabase(adminUrl, name);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(HOP_SCHEMA);
  await c.end();
  return db;
}

export function hopParams(consumer, payload, i) {
  const id = randomUUID();
  const streamId = `bench-order-${id}`;
  const headers = JSON.stringify({ 'ce-id': id, 'ce-type': 'clinical.bench.out.v1', 'ce-source': 'bench', 'ce-specversion': '1.0', traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` });
  const data = JSON.stringify({ n: i, hl7: payload });
  return { id, streamId, consumer, messageKey: `bench|${id}`, headers, data };
}

/** One hop's transaction with raw pg: inbox claim, event load + append, outbox insert, one commit. */
export async function hopTransaction(client, p, { notify = false } = {}) {
  await client.query('BEGIN');
  try {
    const claimed = await client.query(HOP_SQL.inbox, [p.consumer, p.messageKey]);
    if (claimed.rowCount === 1) {
      const loaded = await client.query(HOP_SQL.load, [p.streamId]);
      await client.query(HOP_SQL.append, [p.streamId, loaded.rowCount + 1, 'BenchEventRecorded', p.data, '{"messageId":"m"}']);
      await client.query(HOP_SQL.outbox, [p.id, p.streamId, 'clinical.bench.out.v1', p.headers, p.data, 'CLINICAL']);
      if (notify) await client.query(HOP_SQL.notify, ['lifeline_outbox']);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** B_pg: the hop's SQL in a closed loop on `concurrency` connections. */
export async function pgHop(dbUrl, { concurrency, count, deadlineMs, payload, notify = false }) {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const c = new pg.Client({ connectionString: dbUrl, application_name: 'bench-pg' });
      await c.connect();
      return c;
    }),
  );
  const lat = [];
  let k = 0;
  const free = [...clients];
  const r = await closedLoop({
    workers: concurrency,
    count,
    deadlineMs,
    work: async (i) => {
      const c = free.pop();
      const t = now();
      await hopTransaction(c, hopParams(`bench-pg-${concurrency}`, payload, i + k), { notify });
      lat.push(now() - t);
      free.push(c);
    },
  });
  k += count;
  await Promise.all(clients.map((c) => c.end()));
  return { concurrency, count: r.done, seconds: r.seconds, perSecond: r.done / r.seconds, latencyMs: latencySummary(lat) };
}

/**
 * B_hop: the minimal hop without framework. Pull consume → one transaction (raw pg) → ack; a relay
 * loop publishes the committed outbox rows (msgID, PubAck awaited) and marks them sent.
 * Throughput = pre-loaded messages / time until the last output's PubAck.
 */
export async function rawHop(nc, stream, dbUrl, { concurrency, count, deadlineMs, payload }) {
  const inSubject = stream.subject(`hopin.c${concurrency}`);
  await preload(nc, inSubject, { count, payload });
  const consumer = await addDurable(nc, stream, `bench-hop-c${concurrency}`, inSubject);
  const js = jetstream(nc, { timeout: 10_000 });
  const pool = new pg.Pool({ connectionString: dbUrl, max: concurrency + 1, application_name: 'bench-raw-hop' });
  const relayPool = new pg.Pool({ connectionString: dbUrl, max: 2, application_name: 'bench-raw-relay' });
  // an idle client whose backend goes away (the database dropped by a stage's teardown) emits 'error' on
  // its pool; without a listener that is an uncaught exception (seen once in the smoke spec)
  for (const p of [pool, relayPool]) p.on('error', () => undefined);
  const queue = [];
  let wake;
  let published = 0;
  let consumed = 0;
  let failures = 0;
  const started = now();
  const end = started + deadlineMs;

  const relay = (async () => {
    while (published < count && now() < end) {
      if (queue.length === 0) {
        await new Promise((r) => {
          wake = r;
          setTimeout(r, 50);
        });
        continue;
      }
      const batch = queue.splice(0, 256);
      await Promise.all(batch.map((p) => js.publish(stream.subject('hopout'), new TextEncoder().encode(p.data), { msgID: p.id, headers: envelopeHeaders(p.id) })));
      await relayPool.query('UPDATE outbox SET sent_at = clock_timestamp() WHERE id = ANY($1::uuid[])', [batch.map((p) => p.id)]);
      published += batch.length;
    }
  })();

  const messages = await consumer.consume({ max_messages: concurrency * 2 });
  let permits = concurrency;
  const waiters = [];
  const inflight = new Set();
  const stopTimer = setTimeout(() => messages.stop(), deadlineMs);
  for await (const m of messages) {
    if (permits === 0) await new Promise((r) => waiters.push(r));
    else permits -= 1;
    const job = (async () => {
      const client = await pool.connect();
      try {
        const p = hopParams(`bench-hop-c${concurrency}`, payload, m.seq);
        await hopTransaction(client, p);
        m.ack();
        queue.push(p);
        wake?.();
      } catch {
        failures += 1;
        m.nak();
      } finally {
        client.release();
        const w = waiters.shift();
        if (w) w();
        else permits += 1;
      }
    })().finally(() => inflight.delete(job));
    inflight.add(job);
    consumed += 1;
    if (consumed >= count) break;
  }
  clearTimeout(stopTimer);
  messages.stop();
  await Promise.all(inflight);
  await relay;
  const seconds = (now() - started) / 1000;
  await pool.end();
  await relayPool.end();
  return { concurrency, count: published, failures, seconds, perSecond: published / seconds };
}

export { sleep };
