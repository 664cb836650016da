// Shared helpers of the bench harness: statistics, payloads, bounded loops, clean-up.
import { fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import pg from 'pg';

export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** p-quantile of an unsorted array of numbers (nearest rank); NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function latencySummary(values) {
  return { n: values.length, p50: quantile(values, 0.5), p99: quantile(values, 0.99), p999: quantile(values, 0.999), max: quantile(values, 1) };
}

export const round = (x, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** Short unique name `<label>-<6 base36>`, valid as a NATS prefix and (with _) a database name. */
export function benchPrefix(label) {
  return `bench-${label}-${randomInt(36 ** 6).toString(36).padStart(6, '0')}`;
}

/** Adds NTE segments so the ORM weighs `targetBytes` (real ORMs carry notes; the issue asks ~1-3 KB). */
export function padHl7(message, targetBytes) {
  const segs = [message];
  let size = message.length;
  for (let i = 1; size < targetBytes && i < 100; i += 1) {
    const nte = `NTE|${i}|L|BENCHMARK PADDING NOTE ${i} ${'X'.repeat(100)}`;
    segs.push(nte);
    size += nte.length + 1;
  }
  return segs.join('\r');
}

/** Runs `work` on `workers` concurrent closed loops until `count` items are done or `deadlineMs` passes. */
export async function closedLoop({ workers, count, deadlineMs, work }) {
  let next = 0;
  let done = 0;
  const end = now() + deadlineMs;
  const started = now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < count && now() < end) {
        const i = next;
        next += 1;
        await work(i);
        done += 1;
      }
    }),
  );
  return { done, seconds: (now() - started) / 1000 };
}

/** Open loop: starts `work(i)` every 1/rate s (not waiting for the previous), bounded in count and time. */
export async function openLoop({ rate, count, deadlineMs, work, maxInFlight = 10_000 }) {
  const started = now();
  const interval = 1000 / rate;
  const jobs = [];
  let inFlight = 0;
  let dropped = 0;
  for (let i = 0; i < count && now() - started < deadlineMs; i += 1) {
    const due = started + i * interval;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    if (inFlight >= maxInFlight) {
      dropped += 1;
      continue;
    }
    inFlight += 1;
    jobs.push(
      Promise.resolve(work(i)).finally(() => {
        inFlight -= 1;
      }),
    );
  }
  const sent = jobs.length;
  await Promise.allSettled(jobs);
  return { sent, dropped, seconds: (now() - started) / 1000 };
}

/** CREATE DATABASE <name>; returns { url, drop }. */
export async function createDatabase(adminUrl, name) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(`CREATE DATABASE "${name}"`);
        break;
      } catch (err) {
        if (!(err.code === '55006' && attempt < 20)) throw err;
        await sleep(100 * attempt);
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => dropDatabases(adminUrl, [name]) };
}

export async function dropDatabases(adminUrl, names) {
  if (names.length === 0) return;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const name of names) {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
    }
  } finally {
    await admin.end();
  }
}

/** The hop's SQL (what OrderService-style handlers run through the libs), shared by B_pg and B_hop. */
export const HOP_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY, seq bigserial NOT NULL, aggregate_id text NOT NULL, subject text NOT NULL,
  headers jsonb NOT NULL, payload jsonb NOT NULL, expect_stream text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(), sent_at timestamptz, attempts int NOT NULL DEFAULT 0,
  lease_owner text, lease_until timestamptz, last_error text);
CREATE INDEX IF NOT EXISTS outbox_unsent_by_aggregate ON outbox (aggregate_id, seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_unsent_by_seq ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS inbox (consumer text NOT NULL, message_id text NOT NULL, received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, message_id));
CREATE TABLE IF NOT EXISTS events (
  global_position bigserial PRIMARY KEY, stream_id text NOT NULL, version int NOT NULL, type text NOT NULL,
  data jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}'::jsonb, recorded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version UNIQUE (stream_id, version));`;

export const HOP_SQL = {
  inbox: 'INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS claimed',
  load: 'SELECT stream_id, version, global_position, type, data, metadata, recorded_at FROM events WHERE stream_id = $1 ORDER BY version',
  append: 'INSERT INTO events (stream_id, version, type, data, metadata) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)',
  outbox: 'INSERT INTO outbox (id, aggregate_id, subject, headers, payload, expect_stream) VALUES ($1, $2, $3, $4, $5::jsonb, $6)',
  notify: "SELECT pg_notify($1, '')",
};

/**
 * Runs `name(args)` exported by `moduleUrl` in a child process (bench/lib/child-stage.mjs) and resolves
 * with its result. Why: a stage that compares two modes of one process (tracing off / on) should see
 * a service's heap, not the harness's after the stages before it; 150 MB of live objects in the
 * harness turned tracing on ÷ off 0.95 into 0.82 (scavenges cost more with more allocation).
 */
export function inChildProcess(moduleUrl, name, args) {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./child-stage.mjs', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.once('message', (m) => {
      settled = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(`bench stage ${name} failed in its process: ${m.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`bench stage ${name}: its process exited with ${code} before answering`));
    });
    child.send({ moduleUrl, name, args });
  });
}
