import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { expectEventually } from './expect-eventually.js';
import { freePort } from './processes.mjs';

// external-sim as a real child process, for service integration tests (the LIS, EHR inbox, billing).
const ROOT = new URL('../../../', import.meta.url).pathname;
const SIM_MAIN = join(ROOT, 'services/external-sim/dist/main.js');
// What the sim's dist needs at runtime besides node_modules.
const BUILT = [
  { project: 'config', entry: 'libs/config/dist/index.js' },
  { project: 'errors', entry: 'libs/errors/dist/index.js' },
  { project: 'external-sim', entry: 'services/external-sim/dist/main.js' },
];

export type SimTarget = 'lis' | 'ehr' | 'billing';

export interface SimFault {
  target: SimTarget;
  mode: 'fail' | 'slow' | 'timeout' | 'throttle' | 'reject';
  status?: number;
  delayMs?: number;
  count?: number;
  /** The fault applies for this long (ms), then the target is healthy again. */
  untilMs?: number;
  pathPrefix?: string;
}

/** Counters of /_sim/stats: every request that reached the target, failed by a fault or not. */
export interface SimTargetStats {
  received: number;
  effects: number;
  replays: number;
  failuresInjected: number;
  delayed: number;
}

export interface SimEffects {
  count: number;
  byKey: Record<string, number>;
  effects: Array<{
    idempotencyKey: string;
    operation: string;
    resourceId: string;
    attributes: Record<string, unknown>;
    replays: number;
  }>;
}

export interface SimRequest {
  path: string;
  idempotencyKey: string | null;
  status: number | null;
  replay: boolean;
}

export interface ExternalSim {
  /** e.g. http://127.0.0.1:41234 (append /lis or /ehr). */
  readonly baseUrl: string;
  reset(): Promise<void>;
  addFault(fault: SimFault): Promise<void>;
  effects(target: SimTarget): Promise<SimEffects>;
  requests(target: SimTarget): Promise<SimRequest[]>;
  stats(): Promise<Record<SimTarget, SimTargetStats>>;
  clearFaults(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `node services/external-sim/dist/main.js` on a free loopback port (building it first if needed). */
export async function startExternalSim(): Promise<ExternalSim> {
  const missing = BUILT.filter((b) => !existsSync(join(ROOT, b.entry))).map(
    (b) => b.project,
  );
  if (missing.length > 0)
    execFileSync(process.execPath, ['tools/build.mjs', ...missing], {
      cwd: ROOT,
      stdio: 'ignore',
    });
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [SIM_MAIN], {
    cwd: ROOT,
    // Only what the sim reads: hermetic, and no test-run secrets leak into its environment.
    env: {
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  try {
    await expectEventually(
      async () => {
        if (child.exitCode !== null)
          throw new Error(
            `external-sim exited with ${child.exitCode}: ${stderr}`,
          );
        return (await fetch(`${baseUrl}/health/ready`)).ok;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: 'external-sim ready' },
    );
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const control = async <T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok)
      throw new Error(`external-sim ${method} ${path} → ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    baseUrl,
    reset: async () => void (await control('POST', '/_sim/reset')),
    addFault: async (fault) =>
      void (await control('POST', '/_sim/faults', fault)),
    effects: (target) => control<SimEffects>('GET', `/_sim/effects/${target}`),
    requests: (target) =>
      control<SimRequest[]>('GET', `/_sim/requests?target=${target}`),
    stats: () => control<Record<SimTarget, SimTargetStats>>('GET', '/_sim/stats'),
    clearFaults: async () => void (await control('DELETE', '/_sim/faults')),
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
