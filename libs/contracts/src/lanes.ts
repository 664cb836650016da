import type { Priority } from './envelope.js';
import { LANED_STREAM_NAMES, type ConsumerSpec, type LanedStreamName, type StreamName } from './topology.js';

/**
 * Priority lanes (ARCHITECTURE.md "Priority"): a stat message travels on its own subject, in its own
 * stream, consumed by its own durable with its own concurrency, so a routine backlog cannot delay it
 * (2.9: one filter per consumer, no priority groups: separate subjects, streams and durables are the
 * 2.9 mechanism).
 *
 * The lane is a token before the stream's root: `clinical.order.placed.v1` (routine) →
 * `stat.clinical.order.placed.v1` (stat), stored in CLINICAL_STAT (`stat.clinical.>`), not CLINICAL
 * (topology.ts says why). The routine subject stays the CloudEvents `type`, so schemas, handlers and
 * `@ConsumeEvent` patterns are unchanged, and a routine wildcard (`clinical.lab.>`) never matches the
 * stat lane.
 *
 * Raw ingest is laned too (`ingest.hl7v2.v1` → `stat.ingest.hl7v2.v1`): the gateway classifies each
 * HL7 message (libs/hl7 `classifyHl7Priority`: a stat order or a critical result) before it stores
 * it, so a stat message does not queue behind a routine backlog in INGEST → normalizer either.
 */
export const STAT_LANE_TOKEN = 'stat';

/** Streams whose consumers get a stat lane (every stream but the DLQ). */
export const LANED_STREAMS: readonly StreamName[] = LANED_STREAM_NAMES;
const LANED_ROOTS: readonly string[] = ['ingest', 'clinical', 'cmd'];
const STAT_PREFIX = `${STAT_LANE_TOKEN}.`;

/** Handler invocations in flight reserved for the stat lane of each consumer. */
export const STAT_LANE_CONCURRENCY = 4;

export function isStatLane(subject: string): boolean {
  const [lane, root] = subject.split('.');
  return lane === STAT_LANE_TOKEN && root !== undefined && LANED_ROOTS.includes(root);
}

/** The subject of `subject` (unprefixed, routine) on the lane of `priority`; idempotent. */
export function laneSubject(subject: string, priority: Priority | string | undefined): string {
  if (priority !== 'stat' || isStatLane(subject)) return subject;
  const root = subject.split('.', 1)[0] ?? '';
  if (!LANED_ROOTS.includes(root) || !subject.includes('.')) return subject;
  return `${STAT_PREFIX}${subject}`;
}

/** The stream a message of `priority` expected in `stream` is stored in; idempotent. */
export function laneStream(stream: string, priority: Priority | string | undefined): string {
  if (priority !== 'stat' || !(LANED_STREAM_NAMES as readonly string[]).includes(stream)) return stream;
  return `${stream}_STAT`;
}

/** The routine subject (the event type) of a subject on any lane. */
export function routineSubject(subject: string): string {
  return isStatLane(subject) ? subject.slice(STAT_PREFIX.length) : subject;
}

/** The stat-lane twin of a routine consumer, or undefined when its stream has no lanes. */
export function statLaneOf(spec: ConsumerSpec): ConsumerSpec | undefined {
  if (!LANED_STREAMS.includes(spec.stream) || isStatLane(spec.filterSubject)) return undefined;
  return {
    ...spec,
    stream: `${spec.stream as LanedStreamName}_STAT`,
    durable: `${spec.durable}-${STAT_LANE_TOKEN}`,
    filterSubject: laneSubject(spec.filterSubject, 'stat'),
    concurrency: Math.min(spec.concurrency, STAT_LANE_CONCURRENCY),
  };
}

/**
 * The routine durable of a consumer on either lane (`orders-clinical-stat` → `orders-clinical`): what
 * per-consumer configuration and inbox keys are named after, so both lanes share them.
 */
export function routineDurable(durable: string): string {
  const suffix = `-${STAT_LANE_TOKEN}`;
  return durable.endsWith(suffix) ? durable.slice(0, -suffix.length) : durable;
}

/** Routine consumers plus their stat lanes (what is provisioned and consumed by default). */
export function withPriorityLanes(specs: readonly ConsumerSpec[]): ConsumerSpec[] {
  const out: ConsumerSpec[] = [];
  for (const spec of specs) {
    out.push(spec);
    const stat = statLaneOf(spec);
    if (stat && !specs.some((s) => s.durable === stat.durable)) out.push(stat);
  }
  return out;
}
