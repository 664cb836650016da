import { describe, expect, it } from '@jest/globals';

import { PatientOrderGate } from './patient-order.gate.js';

describe('PatientOrderGate', () => {
  it('runs different patients in parallel and one patient in stream order', async () => {
    const gate = new PatientOrderGate(() => 0);
    expect(gate.admit('p1', 1, 100)).toEqual({ kind: 'run' });
    expect(gate.admit('p2', 2, 100)).toEqual({ kind: 'run' });
    const later = gate.admit('p1', 3, 100);
    expect(later.kind).toBe('wait');
    gate.settle('p1', 1, 'done');
    if (later.kind === 'wait') await later.until;
    expect(gate.admit('p1', 3, 100)).toEqual({ kind: 'run' });
  });

  it('holds later messages while an earlier one is away for a retry, until it is done', () => {
    const gate = new PatientOrderGate(() => 0);
    gate.admit('p1', 1, 100);
    gate.settle('p1', 1, 'away', 1_000);
    expect(gate.admit('p1', 2, 100)).toEqual({ kind: 'hold' });
    // the retried head comes back first and runs; the held one stays behind it
    expect(gate.admit('p1', 1, 100)).toEqual({ kind: 'run' });
    expect(gate.admit('p1', 2, 100).kind).toBe('wait');
    gate.settle('p1', 1, 'done');
    expect(gate.admit('p1', 2, 100)).toEqual({ kind: 'run' });
  });

  it('forgets an away message that does not come back in time (another replica took it)', () => {
    let now = 0;
    const gate = new PatientOrderGate(() => now);
    gate.admit('p1', 1, 100);
    gate.settle('p1', 1, 'away', 500);
    expect(gate.admit('p1', 2, 100)).toEqual({ kind: 'hold' });
    now = 501;
    expect(gate.admit('p1', 2, 100)).toEqual({ kind: 'run' });
  });

  it('lists the messages still expected back for the hand-over at a stop (away until expiry, running until the given time)', () => {
    let now = 0;
    const gate = new PatientOrderGate(() => now);
    gate.admit('p1', 1, 100);
    gate.settle('p1', 1, 'away', 1_000);
    expect(gate.admit('p1', 2, 100)).toEqual({ kind: 'hold' });
    gate.admit('p2', 7, 100);
    gate.admit('p3', 9, 100);
    gate.settle('p3', 9, 'done');
    now = 50;
    expect(gate.expected(5_000)).toEqual(
      new Map([
        ['p1', [{ seq: 1, until: 1_000 }, { seq: 2, until: 100 }]],
        ['p2', [{ seq: 7, until: 5_000 }]],
      ]),
    );
    now = 200;
    expect(gate.expected(5_000).get('p1')).toEqual([{ seq: 1, until: 1_000 }]);
  });
});
