// One consumer hop through the real libs: JetStreamServer (transport) → runInTransaction + claimInbox
// (inbox) + handleCommand (event store) + addToOutbox (outbox) → ack; OutboxRelay publishes the rows.
import { fork } from 'node:child_process';

import { connect } from '@nats-io/transport-node';
import { causedBy, createNaming, newEnvelope } from '@lifeline/contracts';
import { EventStore, CreateEventStore1764000000001, handleCommand } from '@lifeline/event-store';
import { JetStreamPublisher, JetStreamServer, deleteTopology, provisionTopology } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { OutboxRelay, TransactionBatcher, addToOutbox, claimInbox, createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';

import { benchPrefix, createDatabase, latencySummary, now, openLoop, quantile, sleep } from './common.mjs';

const IN = 'clinical.bench.hop-in.v1';
const OUT = 'clinical.bench.hop-out.v1';

const decider = {
  initialState: { status: 'none' },
  decide: (command, state) => (state.status === 'none' ? [{ type: 'BenchEventRecorded', data: command.data }] : []),
  evolve: (state, event) => (event.type === 'BenchEventRecorded' ? { status: 'recorded', n: event.data.n } : state),
};

/**
 * Sets up a private topology + database, runs `drive(ctx)` with the hop running, tears everything down.
 * `ctx.publishInput(i)` publishes one input envelope; `ctx.outputs` resolves per output message.
 */
async function withLibHop({ natsUrl, adminUrl, concurrency, batch = true, inFlight = 32, relaySpans }, drive) {
  const prefix = benchPrefix('hop');
  const naming = createNaming(prefix);
  // the services' connection options (libs/messaging messaging.module.ts)
  const nc = await connect({ servers: natsUrl, name: 'bench-lib-hop', noAsyncTraces: true });
  // `concurrency` is the database concurrency, as B_pg's connections: with group commit (batch) the
  // hop holds `concurrency` connections and keeps `inFlight` messages in flight; without it, one
  // message per connection (the consumer's concurrency = connections, the hop before group commit).
  const spec = { durable: 'bench-hop', service: 'orders', stream: 'CLINICAL', filterSubject: IN, maxAttempts: 5, ackWaitMs: 30_000, concurrency: batch ? Math.max(concurrency, inFlight) : concurrency };
  await provisionTopology({ nc, naming, consumers: [spec] });
  const db = await createDatabase(adminUrl, prefix.replace(/-/g, '_'));
  const ds = createServiceDataSource({ service: 'bench-hop', url: db.url, migrations: [CreateEventStore1764000000001], poolSize: concurrency + 1 }); // + 1: migrateUnderLock holds one for its advisory lock
  const logger = createLogger({ service: 'bench', level: 'silent' });
  const publisher = new JetStreamPublisher(nc, naming);
  const relay = new OutboxRelay({ databaseUrl: db.url, publisher, logger, spans: relaySpans });
  const server = new JetStreamServer({ nc, naming, service: 'orders', serviceVersion: 'bench', logger, consumers: [spec] });
  const store = new EventStore();
  // group commit as the services run it (batch: false = one transaction per message, runInTransaction)
  const batcher = new TransactionBatcher(ds, { disabled: !batch, maxParallel: concurrency });
  const committed = new Map();
  let handled = 0;
  server.addHandler(
    IN,
    async (env, ctx) => {
      const streamId = `bench-order-${env.data.n}-${env.id}`;
      const out = causedBy(env, { type: OUT, source: 'bench', data: env.data, idempotencyKey: `bench-out|${env.id}` });
      await batcher.run({
        inbox: { consumer: ctx.durable, key: env.idempotencyKey },
        work: async (manager) => {
          if (!(await claimInbox(manager, ctx.durable, env.idempotencyKey))) return;
          await handleCommand({ manager, store, streamId, decider, command: { type: 'Record', data: env.data }, metadata: { messageId: env.id } });
          await addToOutbox(manager, { envelope: out, aggregateId: streamId, expectStream: 'CLINICAL' });
        },
      });
      committed.set(out.id, now());
      handled += 1;
    },
    true,
  );
  const received = [];
  const sub = nc.subscribe(naming.subject(OUT), {
    callback: (_err, msg) => {
      const id = msg.headers?.get('Nats-Msg-Id');
      const t = now();
      received.push({ id, t });
    },
  });
  try {
    await ds.initialize();
    await migrateUnderLock(ds, 'bench-hop');
    const inputPublisher = new JetStreamPublisher(nc, naming);
    const publishInput = (i, payload) =>
      inputPublisher.publishEnvelope(newEnvelope({ type: IN, source: 'bench', data: { n: i, hl7: payload }, idempotencyKey: `bench-in|${prefix}|${i}` }));
    const start = async () => {
      await relay.start();
      await new Promise((resolve, reject) => server.listen((err) => (err ? reject(err) : resolve())));
    };
    return await drive({ publishInput, start, received, committed, handledCount: () => handled });
  } finally {
    sub.unsubscribe();
    await server.close();
    await relay.stop();
    await ds.destroy().catch(() => undefined);
    await deleteTopology({ nc, naming }).catch(() => undefined);
    await nc.drain();
    await db.drop();
  }
}

async function waitFor(pred, deadline) {
  while (!pred() && now() < deadline) await sleep(5);
  return pred();
}

/** Saturation: `count` inputs pre-loaded, then the hop is started; throughput until the last output. */
export async function libHop({ natsUrl, adminUrl, concurrency, count, deadlineMs, payload, batch = true, relaySpans, beforeStart }) {
  return withLibHop({ natsUrl, adminUrl, concurrency, batch, relaySpans }, async ({ publishInput, start, received }) => {
    const inflight = new Set();
    for (let i = 0; i < count; i += 1) {
      const p = publishInput(i, payload).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 256) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    // e.g. export the pre-load's own spans now: they are the load generator's, not the hop's
    await beforeStart?.();
    const started = now();
    await start();
    await waitFor(() => received.length >= count, started + deadlineMs);
    const seconds = (received.at(-1)?.t ?? now()) / 1000 - started / 1000;
    return { concurrency, count: received.length, seconds, perSecond: received.length / seconds };
  });
}

/** Open loop at `rate`/s: outbox relay added latency = output received − transaction committed. */
export async function relayLatency({ natsUrl, adminUrl, concurrency, rate, count, deadlineMs, payload }) {
  return withLibHop({ natsUrl, adminUrl, concurrency }, async ({ publishInput, start, received, committed }) => {
    await start();
    const r = await openLoop({ rate, count, deadlineMs, work: (i) => publishInput(i, payload) });
    await waitFor(() => received.length >= r.sent, now() + 10_000);
    const lat = [];
    for (const { id, t } of received) {
      const c = committed.get(id);
      if (c !== undefined) lat.push(t - c);
    }
    return { rate, sent: r.sent, relayed: received.length, latencyMs: latencySummary(lat) };
  });
}

/**
 * Tracing off vs on for the hop at saturation: off (no SDK: no-op tracer), on (NodeTracerProvider,
 * W3C trace-context propagation, BatchSpanProcessor → OTLP/proto to a local collector stand-in in a
 * process of its own, as libs/observability startTelemetry sets the services up) with the relay's
 * default spans (one linked `send outbox` span per relay batch), and `message` (the same with a `send`
 * span per relayed message, OUTBOX_RELAY_SPANS=message).
 * One discarded warm-up round (JIT: a fresh process's first round ran 10-30 % slower), then `cycles`
 * cycles of one round per mode, the order rotating from cycle to cycle; ratio = the median over the
 * cycles of on ÷ off within the cycle. Why per cycle: single rounds of one mode moved by ±15 % with
 * the machine's other load over tens of seconds, and a cycle's rounds are seconds apart.
 */
export async function tracingOnOff({ cycles = 5, warmup = true, ...opts }) {
  const { trace, context, propagation } = await import('@opentelemetry/api');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  // the collector is another process (bench/lib/otlp-sink.mjs), as in a deployment
  const sink = fork(new URL('./otlp-sink.mjs', import.meta.url), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { port } = await new Promise((resolve, reject) => {
    sink.once('message', resolve);
    sink.once('error', reject);
  });
  const url = `http://127.0.0.1:${port}/v1/traces`;
  const traced = async (relaySpans) => {
    const provider = new NodeTracerProvider({
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 500, maxQueueSize: 8192, maxExportBatchSize: 512 })],
    });
    provider.register({ propagator: new W3CTraceContextPropagator() });
    try {
      const r = await libHop({ ...opts, relaySpans, beforeStart: () => provider.forceFlush() });
      await provider.forceFlush();
      return r;
    } finally {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    }
  };
  const runners = { off: () => libHop(opts), on: () => traced('batch'), message: () => traced('message') };
  const modes = Object.keys(runners);
  const rounds = { off: [], on: [], message: [] };
  let spansBytes = 0;
  try {
    if (warmup) await runners.off();
    for (let cycle = 0; cycle < cycles; cycle++) {
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[(cycle + k) % modes.length];
        rounds[mode].push((await runners[mode]()).perSecond);
      }
    }
  } finally {
    spansBytes = await new Promise((resolve) => {
      sink.once('message', (m) => resolve(m.bytes));
      sink.send('bytes');
    });
    sink.disconnect();
  }
  // per cycle: each on (message) round ÷ the off round of its own cycle
  const onCycleRatios = rounds.on.map((x, i) => x / rounds.off[i]);
  const messageCycleRatios = rounds.message.map((x, i) => x / rounds.off[i]);
  return {
    ...rounds,
    onCycleRatios,
    messageCycleRatios,
    offMedian: quantile(rounds.off, 0.5),
    onMedian: quantile(rounds.on, 0.5),
    messageMedian: quantile(rounds.message, 0.5),
    ratio: quantile(onCycleRatios, 0.5),
    messageRatio: quantile(messageCycleRatios, 0.5),
    exportedBytes: spansBytes,
  };
}
