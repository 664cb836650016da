import { describe, expect, it } from '@jest/globals';

import { expectEventually } from './expect-eventually.js';

describe('expectEventually', () => {
  it('retries a throwing probe until it passes and returns its value', async () => {
    let calls = 0;
    const value = await expectEventually(
      () => {
        calls += 1;
        expect(calls).toBeGreaterThanOrEqual(3);
        return `done after ${calls}`;
      },
      { intervalMs: 5 },
    );
    expect(value).toBe('done after 3');
  });

  it('treats false, null, 0 and empty string as "not yet"', async () => {
    const answers: unknown[] = [false, null, 0, '', 'ready'];
    const value = await expectEventually(() => answers.shift(), { intervalMs: 1 });
    expect(value).toBe('ready');
  });

  it('lets a void probe made of expect calls pass', async () => {
    let ready = false;
    setTimeout(() => {
      ready = true;
    }, 20);
    await expect(expectEventually(() => expect(ready).toBe(true), { intervalMs: 5 })).resolves.toBeUndefined();
  });

  it('awaits async probes', async () => {
    let calls = 0;
    const value = await expectEventually(async () => {
      await Promise.resolve();
      calls += 1;
      return calls === 2 ? { status: 'COMPLETED' } : null;
    }, { intervalMs: 1 });
    expect(value).toEqual({ status: 'COMPLETED' });
  });

  it('on timeout throws the message with the last assertion error as text and cause', async () => {
    let seen = 0;
    const failure = await expectEventually(
      () => {
        seen += 1;
        expect({ state: `S${seen}` }).toEqual({ state: 'DONE' });
      },
      { timeoutMs: 60, intervalMs: 10, message: 'saga reaches DONE' },
    ).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    const err = failure as Error;
    expect(err.message).toMatch(/^saga reaches DONE: not satisfied after \d+ ms \(\d+ attempts\)/);
    expect(err.message).toContain(`S${seen}`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('on timeout with a falsy probe reports the last value', async () => {
    await expect(expectEventually(() => 0, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(/last value: 0/);
  });

  it('gives up on a probe that never settles', async () => {
    await expect(
      expectEventually(() => new Promise<never>(() => undefined), { timeoutMs: 40, message: 'hung' }),
    ).rejects.toThrow(/hung: .*\n\nprobe did not settle/);
  });
});
