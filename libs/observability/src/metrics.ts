import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics shared by every service. Labels are templates and outcomes, never ids (no PHI,
 * bounded cardinality).
 */
export const registry = new Registry();
let defaultsCollected = false;

export function collectProcessMetrics(service: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
}

export const METRICS = {
  messages: new Counter({
    name: 'jetstream_messages_total',
    help: 'Messages handled by JetStream consumers, by outcome (ack, nak, dead-letter, invalid)',
    labelNames: ['consumer', 'subject_template', 'outcome'] as const,
    registers: [registry],
  }),
  processDuration: new Histogram({
    name: 'jetstream_process_duration_seconds',
    help: 'Handler duration per consumer',
    labelNames: ['consumer', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  published: new Counter({
    name: 'jetstream_published_total',
    help: 'Messages published to JetStream, by stream and duplicate flag',
    labelNames: ['stream', 'duplicate'] as const,
    registers: [registry],
  }),
  deadLetters: new Counter({
    name: 'jetstream_dead_letters_total',
    help: 'Messages dead-lettered, by consumer and error code',
    labelNames: ['consumer', 'error_code'] as const,
    registers: [registry],
  }),
  outboxPending: new Gauge({
    name: 'outbox_pending',
    help: 'Unsent outbox rows',
    registers: [registry],
  }),
  outboxOldestAge: new Gauge({
    name: 'outbox_oldest_age_seconds',
    help: 'Age of the oldest unsent outbox row',
    registers: [registry],
  }),
  outboxPublished: new Counter({
    name: 'outbox_published_total',
    help: 'Outbox rows published by the relay',
    labelNames: ['duplicate'] as const,
    registers: [registry],
  }),
  outboxRelayLatency: new Histogram({
    name: 'outbox_relay_latency_seconds',
    help: 'Time from outbox row creation to PubAck',
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  groupCommitBatchSize: new Histogram({
    name: 'group_commit_batch_size',
    help: 'Messages committed per transaction by the group commit (TransactionBatcher); 1 = alone',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  }),
  groupCommitFallbacks: new Counter({
    name: 'group_commit_fallbacks_total',
    help: 'Batches rolled back and run again one transaction per message (a work failed or conflicted)',
    registers: [registry],
  }),
};
