// The once-per-run test infrastructure behind Jest's globalSetup/globalTeardown (STYLE.md §4): the
// developer's or CI's NATS_URL / DATABASE_URL when they answer, otherwise private servers in a temp dir.
// Workers learn the URLs from env vars set here (Jest forks its workers after globalSetup).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { natsReachable, startNatsServer } from './nats-server.mjs';
import { maskPassword, postgresReachable, startPostgres } from './postgres-server.mjs';
import { findNatsServer, findPgBin, INSTALL_HINT, isRoot, killProcessesMentioning, pidAlive, pidMatches } from './processes.mjs';

export const ENV_NATS_URL = 'LIFELINE_TEST_NATS_URL';
export const ENV_DATABASE_URL = 'LIFELINE_TEST_DATABASE_URL';
export const ENV_HARNESS_FILE = 'LIFELINE_TEST_HARNESS_FILE';

const RUN_PREFIX = 'lifeline-test-';
const STATE = Symbol.for('lifeline.testing.harness');
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function setupHarness() {
  const started = Date.now();
  reapAbandonedRuns();
  const runDir = mkdtempSync(join(tmpdir(), RUN_PREFIX));
  chmodSync(runDir, 0o755); // the postgres user must reach its data dir inside
  const file = join(runDir, 'harness.json');
  const record = { ownerPid: process.pid, runDir };
  writeFileSync(file, JSON.stringify(record, null, 2));

  const state = { runDir, file, record, nats: undefined, postgres: undefined, onSignal: undefined, onExit: undefined };
  globalThis[STATE] = state;
  installCleanupHandlers(state);
  try {
    const [nats, postgres] = await Promise.allSettled([resolveNats(runDir), resolvePostgres(runDir)]);
    if (nats.status === 'fulfilled') state.nats = nats.value;
    if (postgres.status === 'fulfilled') state.postgres = postgres.value;
    for (const result of [nats, postgres]) if (result.status === 'rejected') throw result.reason;
  } catch (err) {
    await teardownHarness();
    throw err;
  }

  record.nats = { url: state.nats.url, private: state.nats.handle !== undefined, pid: state.nats.handle?.pid };
  record.postgres = {
    url: state.postgres.url,
    private: state.postgres.handle !== undefined,
    dataDir: state.postgres.handle?.dataDir,
  };
  writeFileSync(file, JSON.stringify(record, null, 2));
  process.env[ENV_NATS_URL] = state.nats.url;
  process.env[ENV_DATABASE_URL] = state.postgres.url;
  process.env[ENV_HARNESS_FILE] = file;
  const kind = (h) => (h.handle === undefined ? 'shared' : 'private');
  process.stderr.write(
    `\nlifeline harness: NATS ${state.nats.url} (${kind(state.nats)}), PostgreSQL ` +
      `${maskPassword(state.postgres.url)} (${kind(state.postgres)}) in ${Date.now() - started} ms\n`,
  );
}

export async function teardownHarness() {
  const state = globalThis[STATE];
  if (state === undefined) return;
  delete globalThis[STATE];
  await Promise.allSettled([
    state.postgres?.handle?.stop({ mode: 'immediate' }),
    state.nats?.handle?.stop(),
  ]);
  rmSync(state.runDir, { recursive: true, force: true });
  for (const signal of SIGNALS) process.off(signal, state.onSignal);
  process.off('exit', state.onExit);
  for (const key of [ENV_NATS_URL, ENV_DATABASE_URL, ENV_HARNESS_FILE]) delete process.env[key];
}

async function resolveNats(runDir) {
  const given = process.env.NATS_URL;
  if (given !== undefined && given !== '') {
    if (await natsReachable(given)) return { url: given };
    process.stderr.write(`lifeline harness: NATS_URL ${given} does not answer with JetStream; starting a private nats-server\n`);
  }
  if (findNatsServer() === undefined) {
    throw new Error(`NATS_URL is not set (or not reachable) and nats-server is not installed; ${INSTALL_HINT}`);
  }
  const handle = await startNatsServer({ storeDir: join(runDir, 'nats'), logFile: join(runDir, 'nats.log') });
  return { url: handle.url, handle };
}

async function resolvePostgres(runDir) {
  const given = process.env.DATABASE_URL;
  if (given !== undefined && given !== '') {
    if (await postgresReachable(given)) return { url: given };
    process.stderr.write(`lifeline harness: DATABASE_URL ${maskPassword(given)} does not answer; starting a private PostgreSQL\n`);
  }
  if (findPgBin() === undefined) {
    throw new Error(`DATABASE_URL is not set (or not reachable) and PostgreSQL is not installed; ${INSTALL_HINT}`);
  }
  const handle = await startPostgres({
    dataDir: join(runDir, 'pg'),
    socketDir: join(runDir, 'sock'),
    logFile: join(runDir, 'postgres.log'),
    fast: true, // ordinary integration tests only; durability tests start their own with fast: false
    maxConnections: 300,
  });
  return { url: handle.url, handle };
}

// Jest does not run globalTeardown on Ctrl-C or when it crashes; these handlers still stop our servers.
function installCleanupHandlers(state) {
  state.onExit = () => cleanupSync(state.record);
  state.onSignal = (signal) => {
    cleanupSync(state.record);
    for (const s of SIGNALS) process.off(s, state.onSignal);
    process.off('exit', state.onExit);
    // re-raise so the default action (or Jest's own handler) still ends the run
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  for (const signal of SIGNALS) process.on(signal, state.onSignal);
  process.on('exit', state.onExit);
}

/** Synchronous, for signal and exit handlers. record: the harness.json contents. */
function cleanupSync(record) {
  const natsPid = record.nats?.private ? record.nats.pid : undefined;
  if (natsPid !== undefined && pidAlive(natsPid) && pidMatches(natsPid, 'nats-server')) {
    try {
      process.kill(natsPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const dataDir = record.postgres?.private ? record.postgres.dataDir : join(record.runDir, 'pg');
  const bin = findPgBin();
  if (bin !== undefined && existsSync(join(dataDir, 'postmaster.pid'))) {
    const pgCtl = [join(bin, 'pg_ctl'), '-D', dataDir, '-m', 'immediate', '-w', 'stop'];
    const [file, args] = isRoot() ? ['runuser', ['-u', 'postgres', '--', ...pgCtl]] : [pgCtl[0], pgCtl.slice(1)];
    try {
      execFileSync(file, args, { cwd: '/', stdio: 'ignore', timeout: 30_000 });
    } catch {
      // not running
    }
  }
  // a server whose start was interrupted is not in the record yet, but its arguments name the run dir
  killProcessesMentioning(record.runDir);
  rmSync(record.runDir, { recursive: true, force: true });
}

/** Runs whose owner died without cleaning up (SIGKILL, OOM): stop their servers, delete their dirs. */
function reapAbandonedRuns() {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(RUN_PREFIX)) continue;
    const runDir = join(tmpdir(), name);
    let record;
    try {
      record = JSON.parse(readFileSync(join(runDir, 'harness.json'), 'utf8'));
    } catch {
      continue;
    }
    if (record.runDir === runDir && !pidAlive(record.ownerPid)) cleanupSync(record);
  }
}
