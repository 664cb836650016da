import { describe, expect, it } from '@jest/globals';

import { LANED_STREAMS, isStatLane, laneStream, laneSubject, routineDurable, routineSubject, statLaneOf, withPriorityLanes } from './lanes.js';
import { SUBJECTS } from './subjects.js';
import { CONSUMERS, STREAMS, consumerByDurable, subjectMatches, type ConsumerSpec } from './topology.js';

describe('priority lanes', () => {
  it('puts stat messages on a lane token before the root, idempotently; routine unchanged', () => {
    expect(laneSubject('clinical.order.placed.v1', 'stat')).toBe('stat.clinical.order.placed.v1');
    expect(laneSubject('stat.clinical.order.placed.v1', 'stat')).toBe('stat.clinical.order.placed.v1');
    expect(laneSubject('cmd.lab.accept-order.v1', 'stat')).toBe('stat.cmd.lab.accept-order.v1');
    expect(laneSubject('clinical.order.placed.v1', 'routine')).toBe('clinical.order.placed.v1');
    expect(laneSubject('ingest.hl7v2.v1', 'stat')).toBe('stat.ingest.hl7v2.v1');
    expect(laneSubject('ingest.hl7v2.v1', 'routine')).toBe('ingest.hl7v2.v1');
    expect(laneSubject('dlq.normalizer.x', 'stat')).toBe('dlq.normalizer.x');
    expect(routineSubject('stat.clinical.order.placed.v1')).toBe('clinical.order.placed.v1');
    expect(routineSubject('stat.ingest.hl7v2.v1')).toBe('ingest.hl7v2.v1');
    expect(routineSubject('clinical.order.placed.v1')).toBe('clinical.order.placed.v1');
    expect(isStatLane('stat.ingest.hl7v2.v1')).toBe(true);
    expect(isStatLane('ingest.hl7v2.v1')).toBe(false);
    expect(isStatLane('stat.dlq.x')).toBe(false);
  });

  it('stores each laned stream\'s stat lane in a stream of its own, with the same retention', () => {
    expect([...LANED_STREAMS].sort()).toEqual(['CLINICAL', 'COMMANDS', 'INGEST']);
    for (const stream of STREAMS.filter((s) => LANED_STREAMS.includes(s.name))) {
      const root = (stream.subjects[0] ?? '').split('.')[0] ?? '';
      const stat = laneSubject(`${root}.x.v1`, 'stat');
      expect(stat).toBe(`stat.${root}.x.v1`);
      expect(stream.subjects.some((f) => subjectMatches(f, stat))).toBe(false);
      const twin = STREAMS.find((s) => s.name === laneStream(stream.name, 'stat'));
      expect(twin).toMatchObject({ name: `${stream.name}_STAT`, retention: stream.retention, maxAgeMs: stream.maxAgeMs, duplicateWindowMs: stream.duplicateWindowMs });
      expect(twin?.subjects.some((f) => subjectMatches(f, stat))).toBe(true);
      expect(twin?.subjects.some((f) => subjectMatches(f, `${root}.x.v1`))).toBe(false);
    }
    expect(laneStream('DLQ', 'stat')).toBe('DLQ');
    expect(laneStream('CLINICAL', 'routine')).toBe('CLINICAL');
    expect(laneStream('CLINICAL_STAT', 'stat')).toBe('CLINICAL_STAT');
    // no two streams may claim one subject (JetStream refuses overlapping streams)
    for (const a of STREAMS) for (const b of STREAMS) if (a !== b) for (const f of a.subjects) expect(b.subjects.some((g) => subjectMatches(g, f.replace('>', 'x')))).toBe(false);
  });

  it('maps every stat twin back to its routine durable, and leaves routine durables alone', () => {
    for (const spec of CONSUMERS) {
      expect(routineDurable(spec.durable)).toBe(spec.durable);
      const stat = statLaneOf(spec);
      if (stat) expect(routineDurable(stat.durable)).toBe(spec.durable);
    }
  });

  it('gives the normalizer a stat twin on INGEST_STAT: stat.ingest.hl7v2.> with its own durable', () => {
    const stat = statLaneOf(consumerByDurable('normalizer-ingest-hl7v2'));
    expect(stat).toMatchObject({ durable: 'normalizer-ingest-hl7v2-stat', stream: 'INGEST_STAT', filterSubject: 'stat.ingest.hl7v2.>', service: 'normalizer' });
    expect(subjectMatches((stat as ConsumerSpec).filterSubject, laneSubject(SUBJECTS.ingest.hl7v2, 'stat'))).toBe(true);
    expect(subjectMatches('ingest.hl7v2.>', laneSubject(SUBJECTS.ingest.hl7v2, 'stat'))).toBe(false);
    expect(withPriorityLanes(CONSUMERS).map((c) => c.durable)).toContain('normalizer-ingest-hl7v2-stat');
  });

  it('gives each ingest/clinical/command consumer a stat twin whose filter never overlaps the routine one', () => {
    const all = withPriorityLanes(CONSUMERS);
    for (const spec of CONSUMERS) {
      const stat = statLaneOf(spec);
      expect(all).toContainEqual(stat);
      const sample = spec.filterSubject.replace('>', 'x.v1');
      expect(subjectMatches((stat as ConsumerSpec).filterSubject, laneSubject(sample, 'stat'))).toBe(true);
      expect(subjectMatches(spec.filterSubject, laneSubject(sample, 'stat'))).toBe(false);
      expect(subjectMatches((stat as ConsumerSpec).filterSubject, sample)).toBe(false);
    }
    expect(new Set(all.map((c) => `${c.stream}/${c.durable}`)).size).toBe(all.length);
  });
});
