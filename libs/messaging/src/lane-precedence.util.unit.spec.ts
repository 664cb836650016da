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
    const p = new LanePrecedence(1_000);
    p.enterStat();
    p.enterStat();
    const turn = p.routineTurn();
    expect(await settled(turn)).toBe(false);
    p.leaveStat();
    expect(await settled(turn)).toBe(false);
    p.leaveStat();
    expect(await settled(turn)).toBe(true);
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
