import { inspect } from 'node:util';

export interface ExpectEventuallyOptions {
  /** Give up after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Pause between attempts. Default 100 ms. */
  intervalMs?: number;
  /** Leads the error on timeout, e.g. 'order reaches COMPLETED'. */
  message?: string;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error?: unknown; value?: unknown };

/**
 * Retries probe until it passes and resolves with its value. "Not yet" is a thrown error (a failing
 * `expect` inside the probe) or a returned `false`, `null`, `0`, `''` or `NaN`; `undefined` passes, so
 * a void probe made of `expect` calls works. On timeout it throws with `message` and the last failure
 * (the last assertion error's text, with that error as `cause`). A probe that hangs counts as a timeout.
 */
export async function expectEventually<T>(probe: () => Promise<T> | T, opts: ExpectEventuallyOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let last: Attempt<T>;
  for (;;) {
    attempts += 1;
    last = await attempt(probe, Math.max(deadline - Date.now(), intervalMs));
    if (last.ok) return last.value;
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await pause(Math.min(intervalMs, remaining));
  }
  const head = `${opts.message ?? 'expectEventually'}: not satisfied after ${Date.now() - started} ms (${attempts} attempts)`;
  if (last.error !== undefined) {
    const detail = last.error instanceof Error ? last.error.message : inspect(last.error);
    throw new Error(`${head}\n\n${detail}`, { cause: last.error });
  }
  throw new Error(`${head}; last value: ${inspect(last.value)}`);
}

async function attempt<T>(probe: () => Promise<T> | T, budgetMs: number): Promise<Attempt<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Attempt<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: new Error(`probe did not settle within ${budgetMs} ms`) }), budgetMs);
  });
  const run = (async (): Promise<Attempt<T>> => {
    try {
      const value = await probe();
      return isNotYet(value) ? { ok: false, value } : { ok: true, value };
    } catch (error) {
      return { ok: false, error };
    }
  })();
  try {
    return await Promise.race([run, hung]);
  } finally {
    clearTimeout(timer);
  }
}

function isNotYet(value: unknown): boolean {
  return value === false || value === null || value === 0 || value === '' || Number.isNaN(value);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
