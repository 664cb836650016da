import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';

import { LanePrecedence } from './lane-precedence.util.js';

describe('LanePrecedence', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  async function settled(p: Promise<void>): Promise<boolean> {
    let done = false;
    void p.then(() => {
      done = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    return done;
  }

  it('lets routine work start at once when no stat work is in flight', async () => {
    expect(await settled(new LanePrecedence().routineTurn())).toBe(true);
  });

  it('holds routine work while stat work is in flight and releases it when the stat work drains', async () => {
    const p = new LanePrecedence(1_000, 0);
    p.enterStat();
    p.enterStat();
    const turn = p.routineTurn();
    expect(await settled(turn)).toBe(false);
    p.leaveStat();
    expect(await settled(turn)).toBe(false);
    p.leaveStat();
    expect(await settled(turn)).toBe(true);
  });

  it('keeps routine work held for lingerMs after stat work drains (the rest of a stat burst goes first too)', async () => {
    const p = new LanePrecedence(1_000, 50);
    p.enterStat();
    const turn = p.routineTurn();
    p.leaveStat();
    expect(await settled(turn)).toBe(false);
    expect(await settled(p.routineTurn())).toBe(false);
    jest.advanceTimersByTime(49);
    expect(await settled(turn)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await settled(turn)).toBe(true);
    expect(await settled(p.routineTurn())).toBe(true);
  });

  it('under a stat stream that never stops, alternates holds with equally long free periods', async () => {
    const p = new LanePrecedence(250, 50);
    p.enterStat();
    const first = p.routineTurn();
    jest.advanceTimersByTime(250);
    expect(await settled(first)).toBe(true);
    // the routine lane's free period: no waiting although stat work is still in flight
    jest.advanceTimersByTime(200);
    expect(await settled(p.routineTurn())).toBe(true);
    jest.advanceTimersByTime(50);
    const next = p.routineTurn();
    expect(await settled(next)).toBe(false);
    jest.advanceTimersByTime(250);
    expect(await settled(next)).toBe(true);
  });

  it('never defers routine work longer than maxDeferMs (no starvation under steady stat traffic)', async () => {
    const p = new LanePrecedence(250);
    p.enterStat();
    const turn = p.routineTurn();
    jest.advanceTimersByTime(249);
    expect(await settled(turn)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await settled(turn)).toBe(true);
  });
});
