import { describe, expect, it } from '@jest/globals';

import { LANED_STREAMS, isStatLane, laneSubject, routineDurable, routineSubject, statLaneOf, withPriorityLanes } from './lanes.js';
import { SUBJECTS } from './subjects.js';
import { CONSUMERS, STREAMS, consumerByDurable, subjectMatches, type ConsumerSpec } from './topology.js';

describe('priority lanes', () => {
  it('puts stat messages on a lane token after the root, idempotently; routine unchanged', () => {
    expect(laneSubject('clinical.order.placed.v1', 'stat')).toBe('clinical.stat.order.placed.v1');
    expect(laneSubject('clinical.stat.order.placed.v1', 'stat')).toBe('clinical.stat.order.placed.v1');
    expect(laneSubject('cmd.lab.accept-order.v1', 'stat')).toBe('cmd.stat.lab.accept-order.v1');
    expect(laneSubject('clinical.order.placed.v1', 'routine')).toBe('clinical.order.placed.v1');
    expect(laneSubject('ingest.hl7v2.v1', 'stat')).toBe('ingest.stat.hl7v2.v1');
    expect(laneSubject('ingest.hl7v2.v1', 'routine')).toBe('ingest.hl7v2.v1');
    expect(laneSubject('dlq.normalizer.x', 'stat')).toBe('dlq.normalizer.x');
    expect(routineSubject('clinical.stat.order.placed.v1')).toBe('clinical.order.placed.v1');
    expect(routineSubject('ingest.stat.hl7v2.v1')).toBe('ingest.hl7v2.v1');
    expect(isStatLane('ingest.stat.hl7v2.v1')).toBe(true);
    expect(isStatLane('ingest.hl7v2.v1')).toBe(false);
  });

  it('lanes every stream but the DLQ, and each stream captures both lanes of its subjects', () => {
    expect([...LANED_STREAMS].sort()).toEqual(['CLINICAL', 'COMMANDS', 'INGEST']);
    for (const stream of STREAMS.filter((s) => LANED_STREAMS.includes(s.name))) {
      const root = (stream.subjects[0] ?? '').split('.')[0] ?? '';
      const stat = laneSubject(`${root}.x.v1`, 'stat');
      expect(stat).toBe(`${root}.stat.x.v1`);
      expect(stream.subjects.some((f) => subjectMatches(f, stat))).toBe(true);
    }
  });

  it('maps every stat twin back to its routine durable, and leaves routine durables alone', () => {
    for (const spec of CONSUMERS) {
      expect(routineDurable(spec.durable)).toBe(spec.durable);
      const stat = statLaneOf(spec);
      if (stat) expect(routineDurable(stat.durable)).toBe(spec.durable);
    }
  });

  it('gives the normalizer a stat twin on INGEST: ingest.stat.hl7v2.> with its own durable', () => {
    const stat = statLaneOf(consumerByDurable('normalizer-ingest-hl7v2'));
    expect(stat).toMatchObject({ durable: 'normalizer-ingest-hl7v2-stat', stream: 'INGEST', filterSubject: 'ingest.stat.hl7v2.>', service: 'normalizer' });
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
