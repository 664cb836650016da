import { describe, expect, it } from '@jest/globals';

import { createNaming } from './naming.js';
import { subjectMatches } from './topology.js';

describe('naming', () => {
  it('prefixes subjects, streams and durables and strips the subject prefix', () => {
    const n = createNaming('t1-a');
    expect(n.subject('clinical.order.placed.v1')).toBe('t1-a.clinical.order.placed.v1');
    expect(n.stream('INGEST')).toBe('T1_A_INGEST');
    expect(n.durable('orders-order-placed')).toBe('t1-a-orders-order-placed');
    expect(n.unprefix('t1-a.clinical.order.placed.v1')).toBe('clinical.order.placed.v1');
  });

  it('leaves names alone with the empty prefix', () => {
    const n = createNaming('');
    expect(n.subject('cmd.lab.accept-order.v1')).toBe('cmd.lab.accept-order.v1');
    expect(n.stream('DLQ')).toBe('DLQ');
  });

  it('refuses a prefix that would break subject tokens', () => {
    expect(() => createNaming('a.b')).toThrow(/invalid NATS prefix/);
  });
});

describe('subjectMatches', () => {
  it.each([
    ['clinical.lab.>', 'clinical.lab.order-accepted.v1', true],
    ['clinical.lab.>', 'clinical.lab', false],
    ['clinical.*.placed.v1', 'clinical.order.placed.v1', true],
    ['clinical.order.placed.v1', 'clinical.order.placed.v2', false],
  ])('%s vs %s → %s', (filter, subject, expected) => {
    expect(subjectMatches(filter, subject)).toBe(expected);
  });
});
