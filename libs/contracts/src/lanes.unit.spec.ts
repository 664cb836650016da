import { describe, expect, it } from '@jest/globals';

import { laneSubject, routineSubject, statLaneOf, withPriorityLanes } from './lanes.js';
import { CONSUMERS, subjectMatches, type ConsumerSpec } from './topology.js';

describe('priority lanes', () => {
  it('puts stat messages on a lane token after the root, idempotently; routine and raw ingest unchanged', () => {
    expect(laneSubject('clinical.order.placed.v1', 'stat')).toBe('clinical.stat.order.placed.v1');
    expect(laneSubject('clinical.stat.order.placed.v1', 'stat')).toBe('clinical.stat.order.placed.v1');
    expect(laneSubject('cmd.lab.accept-order.v1', 'stat')).toBe('cmd.stat.lab.accept-order.v1');
    expect(laneSubject('clinical.order.placed.v1', 'routine')).toBe('clinical.order.placed.v1');
    expect(laneSubject('ingest.hl7v2.v1', 'stat')).toBe('ingest.hl7v2.v1');
    expect(routineSubject('clinical.stat.order.placed.v1')).toBe('clinical.order.placed.v1');
  });

  it('gives each clinical/command consumer a stat twin whose filter never overlaps the routine one', () => {
    const all = withPriorityLanes(CONSUMERS);
    for (const spec of CONSUMERS) {
      const stat = statLaneOf(spec);
      if (spec.stream === 'INGEST') {
        expect(stat).toBeUndefined();
        continue;
      }
      expect(all).toContainEqual(stat);
      const sample = spec.filterSubject.replace('>', 'x.v1');
      expect(subjectMatches((stat as ConsumerSpec).filterSubject, laneSubject(sample, 'stat'))).toBe(true);
      expect(subjectMatches(spec.filterSubject, laneSubject(sample, 'stat'))).toBe(false);
      expect(subjectMatches((stat as ConsumerSpec).filterSubject, sample)).toBe(false);
    }
    expect(new Set(all.map((c) => `${c.stream}/${c.durable}`)).size).toBe(all.length);
  });
});
