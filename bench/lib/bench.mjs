// The bench harness: baselines and Lifeline in the same run, on the same machine → latest.json.
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem, uptime } from 'node:os';
import { dirname } from 'node:path';

import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { hl7Orm } from '@lifeline/testing';

import { createHopDatabase, createRawStream, jsAsync, jsConsume, jsSync, pgHop, rawHop } from './baselines.mjs';
import { benchPrefix, inChildProcess, now, padHl7, round } from './common.mjs';
import { withCpu } from './cpu.mjs';
import { libHop, relayLatency } from './lifeline-hop.mjs';
import { flow, mllpThroughput, startBenchMesh, statLatency, waitDrained } from './mesh-stages.mjs';
import { hasPgbench, pgbenchHop } from './pgbench.mjs';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Sizes: every loop is bounded in count and in time. */
export const SIZES = {
  quick: {
    padBytes: 1500,
    js: { async: 2_000, sync: 300, consume: 2_000, window: 256, deadlineMs: 5_000 },
    pg: { count: 400, deadlineMs: 3_000, pgbenchSeconds: 0 },
    hop: { count: 300, deadlineMs: 10_000 },
    relay: { rate: 100, count: 150, deadlineMs: 3_000 },
    tracing: { concurrency: 16, count: 300, deadlineMs: 10_000, cycles: 1, warmup: false },
    mllp: { connections: [4], count: 400, deadlineMs: 5_000 },
    flow: { openSeconds: 3, workers: 8, closedCount: 40, deadlineMs: 30_000, drainMs: 10_000 },
    stat: { samples: 3, backlog: 100, deadlineMs: 30_000 },
  },
  full: {
    padBytes: 1500,
    js: { async: 20_000, sync: 2_000, consume: 20_000, window: 256, deadlineMs: 20_000 },
    pg: { count: 10_000, deadlineMs: 10_000, pgbenchSeconds: 8 },
    hop: { count: 8_000, deadlineMs: 30_000 },
    relay: { rate: 200, count: 2_000, deadlineMs: 12_000 },
    tracing: { concurrency: 16, count: 10_000, deadlineMs: 30_000, cycles: 5, warmup: true },
    mllp: { connections: [1, 16, 64], count: 6_000, deadlineMs: 15_000 },
    flow: { openSeconds: 30, workers: 32, closedCount: 600, deadlineMs: 60_000, drainMs: 60_000 },
    stat: { samples: 10, backlog: 500, deadlineMs: 60_000 },
  },
};

const CONCURRENCY = [1, 4, 16];

export const DOWNSTREAM_UNLIMITED = { EHR_RATE_PER_S: '10000', EHR_MAX_CONCURRENCY: '64', LIS_RATE_PER_S: '10000', LIS_MAX_CONCURRENCY: '64' };

function gitCommit() {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

async function machine({ natsUrl, adminUrl, mode }) {
  const nc = await connect({ servers: natsUrl });
  const natsVersion = nc.info?.version;
  await nc.close();
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const { rows } = await c.query("SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync");
  await c.end();
  return {
    mode,
    date: new Date().toISOString(),
    commit: gitCommit(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGiB: round(totalmem() / 2 ** 30, 1),
    freeMemGiB: round(freemem() / 2 ** 30, 1),
    node: process.version,
    nats: natsVersion,
    postgres: rows[0].v,
    synchronousCommit: rows[0].sc,
    fsync: rows[0].fsync,
    loadAvgStart: loadavg().map((x) => round(x)),
    uptimeS: Math.round(uptime()),
  };
}

/**
 * Runs every stage and returns the result object (also written to `out`).
 * @param {{ quick?: boolean, mesh?: boolean, out?: string, natsUrl?: string, adminUrl?: string, log?: (s: string) => void }} opts
 */
export async function runBench(opts = {}) {
  const quick = opts.quick ?? false;
  const withMesh = opts.mesh ?? true;
  const natsUrl = opts.natsUrl ?? process.env.NATS_URL ?? DEFAULT_NATS_URL;
  const adminUrl = opts.adminUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const log = opts.log ?? ((s) => process.stderr.write(`${s}\n`));
  const S = quick ? SIZES.quick : SIZES.full;
  const runId = benchPrefix('r').slice(-6);
  const started = now();
  const payload = padHl7(hl7Orm({ controlId: `${runId}-payload`, placerOrderNumber: `P${runId}`, patientId: `MRN-${runId}`, testCode: 'K' }), S.padBytes);
  const result = { machine: await machine({ natsUrl, adminUrl, mode: quick ? 'quick' : 'full' }), figures: {}, ratios: {}, details: {}, skipped: [] };
  const F = result.figures;
  const D = result.details;
  result.machine.payloadBytes = payload.length;

  // ---- baselines --------------------------------------------------------------------------------
  // the services' client options (libs/messaging): raw JetStream measured as fast as the libs could use it
  const nc = await connect({ servers: natsUrl, name: 'bench-baselines', noAsyncTraces: true });
  const prefix = benchPrefix('base');
  const stream = await createRawStream(nc, prefix);
  const db = await createHopDatabase(adminUrl, prefix.replace(/-/g, '_'));
  try {
    log('B_js_async / B_js_sync / B_js_consume');
    // CPU per message (this process + nats-server, from /proc) beside the MLLP stage's: the ratio's two sides
    D.B_js_async = await withCpu({}, () => jsAsync(nc, stream, { count: S.js.async, window: S.js.window, deadlineMs: S.js.deadlineMs, payload }), (r) => r.count);
    F.B_js_async_cpu_ms_per_msg = D.B_js_async.cpu.totalPerEventMs;
    D.B_js_sync = await jsSync(nc, stream, { count: S.js.sync, deadlineMs: S.js.deadlineMs, payload });
    D.B_js_consume = await jsConsume(nc, stream, { count: S.js.consume, deadlineMs: S.js.deadlineMs, payload });
    F.B_js_async_msgs_per_s = D.B_js_async.perSecond;
    F.B_js_sync_msgs_per_s = D.B_js_sync.perSecond;
    F.B_js_sync_p99_ms = D.B_js_sync.latencyMs.p99;
    F.B_js_consume_msgs_per_s = D.B_js_consume.perSecond;
    for (const c of CONCURRENCY) {
      log(`B_pg c=${c}`);
      D[`B_pg_c${c}`] = await pgHop(db.url, { concurrency: c, count: S.pg.count, deadlineMs: S.pg.deadlineMs, payload });
      F[`B_pg_c${c}_tx_per_s`] = D[`B_pg_c${c}`].perSecond;
    }
    log('B_pg c=16 with pg_notify (what addToOutbox adds)');
    D.B_pg_notify_c16 = await pgHop(db.url, { concurrency: 16, count: S.pg.count, deadlineMs: S.pg.deadlineMs, payload, notify: true });
    F.B_pg_notify_c16_tx_per_s = D.B_pg_notify_c16.perSecond;
    if (S.pg.pgbenchSeconds > 0 && (await hasPgbench())) {
      for (const c of CONCURRENCY) {
        log(`B_pg (pgbench) c=${c}`);
        D[`B_pgbench_c${c}`] = await pgbenchHop(db.url, { concurrency: c, seconds: S.pg.pgbenchSeconds, payload });
        F[`B_pgbench_c${c}_tx_per_s`] = D[`B_pgbench_c${c}`].perSecond;
      }
    }
    for (const c of CONCURRENCY) {
      log(`B_hop c=${c}`);
      D[`B_hop_c${c}`] = await rawHop(nc, stream, db.url, { concurrency: c, count: S.hop.count, deadlineMs: S.hop.deadlineMs, payload });
      F[`B_hop_c${c}_msgs_per_s`] = D[`B_hop_c${c}`].perSecond;
    }
  } finally {
    await stream.delete();
    await nc.drain();
    await db.drop();
  }

  // ---- Lifeline: one hop through the libs, relay latency, tracing -------------------------------
  // hop_cN: as the services run it, group commit (TransactionBatcher) on N connections, like B_pg's N;
  // hop_cN_unbatched: one transaction per message, N messages in flight (the hop before group commit)
  for (const c of CONCURRENCY) {
    log(`Lifeline hop c=${c} (group commit, then one transaction per message)`);
    D[`hop_c${c}`] = await libHop({ natsUrl, adminUrl, concurrency: c, count: S.hop.count, deadlineMs: S.hop.deadlineMs, payload });
    D[`hop_c${c}_unbatched`] = await libHop({ natsUrl, adminUrl, concurrency: c, count: S.hop.count, deadlineMs: S.hop.deadlineMs, payload, batch: false });
    F[`hop_c${c}_msgs_per_s`] = D[`hop_c${c}`].perSecond;
    F[`hop_vs_pg_c${c}`] = F[`hop_c${c}_msgs_per_s`] / F[`B_pg_c${c}_tx_per_s`];
    F[`hop_vs_B_hop_c${c}`] = F[`hop_c${c}_msgs_per_s`] / F[`B_hop_c${c}_msgs_per_s`];
    F[`hop_c${c}_unbatched_msgs_per_s`] = D[`hop_c${c}_unbatched`].perSecond;
    F[`hop_unbatched_vs_pg_c${c}`] = F[`hop_c${c}_unbatched_msgs_per_s`] / F[`B_pg_c${c}_tx_per_s`];
  }
  log(`outbox relay added latency (open loop ${S.relay.rate}/s)`);
  D.relay = await relayLatency({ natsUrl, adminUrl, concurrency: 16, rate: S.relay.rate, count: S.relay.count, deadlineMs: S.relay.deadlineMs, payload });
  F.relay_added_latency_p50_ms = D.relay.latencyMs.p50;
  F.relay_added_latency_p99_ms = D.relay.latencyMs.p99;
  log('tracing off / on / on with a send span per relayed message, in rotating cycles (hop c=16)');
  // in a process of its own (fresh heap, as a service): see inChildProcess in common.mjs
  D.tracing = await inChildProcess(new URL('./lifeline-hop.mjs', import.meta.url).href, 'tracingOnOff', {
    natsUrl,
    adminUrl,
    concurrency: S.tracing.concurrency,
    count: S.tracing.count,
    deadlineMs: S.tracing.deadlineMs,
    payload,
    cycles: S.tracing.cycles,
    warmup: S.tracing.warmup,
  });
  F.hop_c16_tracing_on_msgs_per_s = D.tracing.onMedian;
  F.hop_c16_tracing_off_msgs_per_s = D.tracing.offMedian;
  F.hop_c16_tracing_on_message_spans_msgs_per_s = D.tracing.messageMedian;
  F.tracing_on_message_spans_vs_off = round(D.tracing.messageRatio, 3);
  // the spread of the per-cycle ratios: how much one run's figure can be trusted
  F.tracing_on_vs_off_cycle_min = round(Math.min(...D.tracing.onCycleRatios), 3);
  F.tracing_on_vs_off_cycle_max = round(Math.max(...D.tracing.onCycleRatios), 3);

  // ---- Lifeline: the real mesh ---------------------------------------------------------------
  if (withMesh) {
    log('MLLP durable-ACK (ingest-gateway alone)');
    const gw = await startBenchMesh({ root: ROOT, natsUrl, adminUrl, services: ['ingest-gateway'], label: 'mllp', log });
    try {
      for (const n of S.mllp.connections) {
        // CPU per ACK: the gateway, nats-server and the load generator (this process), from /proc
        D[`mllp_n${n}`] = await withCpu(
          gw.mesh.services,
          () => mllpThroughput({ mesh: gw.mesh, connections: n, count: S.mllp.count, deadlineMs: S.mllp.deadlineMs, padBytes: S.padBytes, runId }),
          (r) => r.count,
        );
        F[`mllp_n${n}_cpu_ms_per_ack`] = D[`mllp_n${n}`].cpu.totalPerEventMs;
        F[`mllp_n${n}_msgs_per_s`] = D[`mllp_n${n}`].perSecond;
        F[`mllp_n${n}_ack_p50_ms`] = D[`mllp_n${n}`].ackLatencyMs.p50;
        F[`mllp_n${n}_ack_p99_ms`] = D[`mllp_n${n}`].ackLatencyMs.p99;
      }
    } finally {
      await gw.cleanup();
    }
    // The R17 duplicate register costs two KV round trips per message (claim, confirm) on top of the
    // INGEST publish: the same stage without it shows what the register costs and what the rest costs.
    const nMax = Math.max(...S.mllp.connections);
    log(`MLLP durable-ACK without the duplicate register (n=${nMax})`);
    const gwOff = await startBenchMesh({ root: ROOT, natsUrl, adminUrl, services: ['ingest-gateway'], label: 'mllp-noreg', env: { MLLP_DUPLICATE_DETECTION: 'false' }, log });
    try {
      D.mllp_register_off = await withCpu(
        gwOff.mesh.services,
        () => mllpThroughput({ mesh: gwOff.mesh, connections: nMax, count: S.mllp.count, deadlineMs: S.mllp.deadlineMs, padBytes: S.padBytes, runId: `${runId}nr` }),
        (r) => r.count,
      );
      F[`mllp_n${nMax}_register_off_cpu_ms_per_ack`] = D.mllp_register_off.cpu.totalPerEventMs;
      F[`mllp_n${nMax}_register_off_msgs_per_s`] = D.mllp_register_off.perSecond;
      F[`mllp_n${nMax}_register_off_ack_p99_ms`] = D.mllp_register_off.ackLatencyMs.p99;
    } finally {
      await gwOff.cleanup();
    }
    log('lab-order flow (whole mesh)');
    // The EHR/LIS guards (rate limit, concurrency cap) protect the external systems; by default the
    // bench lifts them to measure Lifeline itself (--production-limits keeps the defaults: 20 EHR/s).
    const env = opts.productionLimits ? {} : DOWNSTREAM_UNLIMITED;
    result.machine.flowEnv = env;
    const m = await startBenchMesh({ root: ROOT, natsUrl, adminUrl, label: 'flow', env, log });
    try {
      const common = { natsUrl, mesh: m.mesh, naming: m.naming, padBytes: S.padBytes, deadlineMs: S.flow.deadlineMs };
      const drain = async () => {
        const quiet = await waitDrained(natsUrl, m.naming, S.flow.drainMs);
        if (!quiet) log('  (mesh not drained in time: the next stage starts with a backlog)');
        return quiet;
      };
      // warm-up: JIT, pools, the LIS simulator
      await flow({ ...common, runId: `${runId}w`, mode: 'closed', workers: 4, count: quick ? 4 : 40 });
      await drain();
      log(`  closed loop ${S.flow.workers} workers (saturation)`);
      // where the ceiling is: CPU-ms per clinical event by process group (services, nats-server, postgres)
      D.flow_closed = await withCpu(m.mesh.services, () => flow({ ...common, runId, mode: 'closed', workers: S.flow.workers, count: S.flow.closedCount }), (r) => r.events);
      F.flow_closed_cpu_ms_per_event = D.flow_closed.cpu.totalPerEventMs;
      F.flow_closed_machine_busy = D.flow_closed.cpu.machineBusy;
      D.flow_closed.drained = await drain();
      // sustained rate: half of what saturation completed, so the open loop measures latency, not a queue
      const rate = Math.max(1, Math.round(D.flow_closed.pairsPerSecond * 0.5 * 10) / 10);
      log(`  open loop ${rate} pairs/s (50% of saturation)`);
      D.flow_open = await flow({ ...common, runId, mode: 'open', rate, count: Math.max(5, Math.round(rate * S.flow.openSeconds)) });
      D.flow_open.drained = await drain();
      for (const [k, v] of [['open', D.flow_open], ['closed', D.flow_closed]]) {
        F[`flow_${k}_events_per_s`] = v.eventsPerSecond;
        F[`flow_${k}_pairs_per_s`] = v.pairsPerSecond;
        F[`flow_${k}_p50_ms`] = v.latencyMs.p50;
        F[`flow_${k}_p99_ms`] = v.latencyMs.p99;
        F[`flow_${k}_p999_ms`] = v.latencyMs.p999;
        F[`flow_${k}_failures`] = v.failures;
      }
      log('  STAT latency idle vs backlog');
      D.stat = await statLatency({ natsUrl, mesh: m.mesh, naming: m.naming, runId, samples: S.stat.samples, backlog: S.stat.backlog, padBytes: S.padBytes, deadlineMs: S.stat.deadlineMs });
      F.stat_idle_p99_ms = D.stat.idleMs.p99;
      F.stat_backlog_p99_ms = D.stat.backlogMs.p99;
      await waitDrained(natsUrl, m.naming, quick ? 10_000 : 60_000);
    } finally {
      await m.cleanup();
    }
  } else {
    result.skipped.push('mllp', 'flow', 'stat');
  }

  // ---- ratios ----------------------------------------------------------------------------------
  const hopRatios = CONCURRENCY.map((c) => F[`hop_vs_pg_c${c}`]);
  const mllpBest = withMesh ? Math.max(...S.mllp.connections.map((n) => F[`mllp_n${n}_msgs_per_s`])) : null;
  result.ratios = {
    // the weakest concurrency counts (target ≥ 0.7 at each)
    hop_vs_pg: Math.min(...hopRatios),
    mllp_vs_js_async: withMesh ? mllpBest / F.B_js_async_msgs_per_s : null,
    tracing_on_vs_off: D.tracing.ratio,
    stat_p99_backlog_vs_idle: withMesh ? D.stat.ratio : null,
  };
  result.flow_events_per_s = withMesh ? D.flow_closed.eventsPerSecond : null;
  result.relay_added_latency_p99_ms = F.relay_added_latency_p99_ms;
  result.machine.loadAvgEnd = loadavg().map((x) => round(x));
  result.machine.durationS = round((now() - started) / 1000, 1);
  for (const k of Object.keys(F)) F[k] = round(F[k], 3);
  if (opts.out) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}

const TARGETS = { hop_vs_pg: ['≥', 0.7], mllp_vs_js_async: ['≥', 0.5], tracing_on_vs_off: ['≥', 0.9], flow_events_per_s: ['≥', 1000], relay_added_latency_p99_ms: ['≤', 20] };

/** The table printed by run.mjs (and pasted into bench/README.md). */
export function formatTable(result) {
  const fmt = (v) => (v === null || v === undefined ? 'n/a' : typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v));
  const lines = ['| figure | value |', '|---|---:|'];
  for (const [k, v] of Object.entries(result.figures)) lines.push(`| ${k} | ${fmt(v)} |`);
  lines.push('', '| headline | value | target | met |', '|---|---:|---|---|');
  const head = { ...result.ratios, flow_events_per_s: result.flow_events_per_s, relay_added_latency_p99_ms: result.relay_added_latency_p99_ms };
  for (const [k, v] of Object.entries(head)) {
    const t = TARGETS[k];
    const met = t && typeof v === 'number' ? (t[0] === '≥' ? v >= t[1] : v <= t[1]) : undefined;
    lines.push(`| ${k} | ${fmt(v)} | ${t ? `${t[0]} ${t[1]}` : '(lower is better)'} | ${met === undefined ? '' : met ? 'yes' : 'no'} |`);
  }
  const m = result.machine;
  lines.push('', `machine: ${m.cpus}× ${m.cpuModel}, ${m.memGiB} GiB, node ${m.node}, nats-server ${m.nats}, PostgreSQL ${m.postgres} (synchronous_commit=${m.synchronousCommit}, fsync=${m.fsync}); load avg start ${m.loadAvgStart.join(' ')}, end ${m.loadAvgEnd.join(' ')}; mode ${m.mode}; commit ${m.commit}; ${m.durationS} s`);
  return lines.join('\n');
}

export function readResult(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}
