import { SUBJECTS } from './subjects.js';

/** Stream and consumer topology as data. `messaging` provisions it; NACK manifests mirror it later. */
export type RoutineStreamName = 'INGEST' | 'CLINICAL' | 'COMMANDS' | 'DLQ';
/** The streams whose messages have a priority, each with a stat twin (contracts/lanes.ts). */
export const LANED_STREAM_NAMES = ['INGEST', 'CLINICAL', 'COMMANDS'] as const;
export type LanedStreamName = (typeof LANED_STREAM_NAMES)[number];
export type StatStreamName = `${LanedStreamName}_STAT`;
export type StreamName = RoutineStreamName | StatStreamName;

export interface StreamSpec {
  name: StreamName;
  subjects: string[];
  retention: 'limits' | 'workqueue';
  /** Maximum age in milliseconds (0 = unlimited). */
  maxAgeMs: number;
  duplicateWindowMs: number;
  description: string;
}

export interface ConsumerSpec {
  /** Durable name, unique per stream: `<service>-<purpose>`. */
  durable: string;
  service: ServiceName;
  stream: StreamName;
  /** One filter subject: nats-server 2.9 has no multi-filter consumers. May end in `>`. */
  filterSubject: string;
  /** Attempts our transport makes before it dead-letters (it terms on its own on the last). */
  maxAttempts: number;
  ackWaitMs: number;
  /** Handler invocations in flight per consumer process. */
  concurrency: number;
}

export type ServiceName =
  | 'ingest-gateway'
  | 'normalizer'
  | 'orders'
  | 'saga-orchestrator'
  | 'lab'
  | 'notifications'
  | 'billing';

const DAY = 24 * 3_600_000;

const ROUTINE_STREAMS: readonly StreamSpec[] = [
  {
    name: 'INGEST',
    subjects: ['ingest.>'],
    retention: 'limits',
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 120_000,
    description: 'raw transport records, the store of record for replay',
  },
  {
    name: 'CLINICAL',
    subjects: ['clinical.>'],
    retention: 'limits',
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 120_000,
    description: 'canonical domain events',
  },
  {
    name: 'COMMANDS',
    subjects: ['cmd.>'],
    retention: 'workqueue',
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 120_000,
    description: 'saga commands (work queue)',
  },
  {
    name: 'DLQ',
    subjects: ['dlq.>'],
    retention: 'limits',
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 120_000,
    description: 'dead letters with full context, browsable',
  },
];

/**
 * The stat lane of a laned stream is a stream of its own (`stat.<root>.>`, same retention): a routine
 * burst then never sits in the same store in front of a stat message. Measured on nats-server 2.9.10
 * (50,000 routine messages just published, a routine consumer draining, bursts of 10 stat messages):
 * the first stat burst took 3.2-25.4 ms to reach its consumer in the shared stream and 0.7-2.2 ms in
 * a stream of its own (six runs each); later bursts ~0.5 ms in both.
 */
const STAT_STREAMS: readonly StreamSpec[] = ROUTINE_STREAMS.flatMap((s) =>
  (LANED_STREAM_NAMES as readonly string[]).includes(s.name)
    ? [{ ...s, name: `${s.name as LanedStreamName}_STAT` as const, subjects: s.subjects.map((x) => `stat.${x}`), description: `${s.description}: stat lane` }]
    : [],
);

export const STREAMS: readonly StreamSpec[] = [...ROUTINE_STREAMS, ...STAT_STREAMS];

const defaults = { maxAttempts: 5, ackWaitMs: 30_000, concurrency: 8 } as const;

export const CONSUMERS: readonly ConsumerSpec[] = [
  { ...defaults, durable: 'normalizer-ingest-hl7v2', service: 'normalizer', stream: 'INGEST', filterSubject: 'ingest.hl7v2.>' },
  { ...defaults, durable: 'orders-order-placed', service: 'orders', stream: 'CLINICAL', filterSubject: SUBJECTS.clinical.orderPlaced },
  { ...defaults, durable: 'orders-order-cancel-requested', service: 'orders', stream: 'CLINICAL', filterSubject: SUBJECTS.clinical.orderCancelRequested },
  { ...defaults, durable: 'orders-lab-events', service: 'orders', stream: 'CLINICAL', filterSubject: 'clinical.lab.>' },
  { ...defaults, durable: 'orders-notification-events', service: 'orders', stream: 'CLINICAL', filterSubject: 'clinical.notification.>' },
  { ...defaults, durable: 'orders-workflow-events', service: 'orders', stream: 'CLINICAL', filterSubject: 'clinical.workflow.>' },
  { ...defaults, durable: 'saga-order-placed', service: 'saga-orchestrator', stream: 'CLINICAL', filterSubject: SUBJECTS.clinical.orderPlaced },
  { ...defaults, durable: 'saga-order-cancel-requested', service: 'saga-orchestrator', stream: 'CLINICAL', filterSubject: SUBJECTS.clinical.orderCancelRequested },
  { ...defaults, durable: 'saga-lab-events', service: 'saga-orchestrator', stream: 'CLINICAL', filterSubject: 'clinical.lab.>' },
  { ...defaults, durable: 'saga-notification-events', service: 'saga-orchestrator', stream: 'CLINICAL', filterSubject: 'clinical.notification.>' },
  { ...defaults, durable: 'saga-billing-events', service: 'saga-orchestrator', stream: 'CLINICAL', filterSubject: 'clinical.billing.>' },
  { ...defaults, durable: 'lab-commands', service: 'lab', stream: 'COMMANDS', filterSubject: 'cmd.lab.>' },
  { ...defaults, durable: 'lab-result-received', service: 'lab', stream: 'CLINICAL', filterSubject: SUBJECTS.clinical.resultReceived },
  { ...defaults, durable: 'notifications-commands', service: 'notifications', stream: 'COMMANDS', filterSubject: 'cmd.notify.>' },
  { ...defaults, durable: 'billing-commands', service: 'billing', stream: 'COMMANDS', filterSubject: 'cmd.billing.>' },
];

export function consumersOf(service: ServiceName): ConsumerSpec[] {
  return CONSUMERS.filter((c) => c.service === service);
}

export function consumerByDurable(durable: string): ConsumerSpec {
  const spec = CONSUMERS.find((c) => c.durable === durable);
  if (!spec) throw new Error(`no consumer "${durable}" in the topology`);
  return spec;
}

/** Whether a concrete subject matches a NATS filter (`*` one token, `>` the rest). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
