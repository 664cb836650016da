// Private PostgreSQL clusters (initdb + pg_ctl) for the harness, fault tests and the mesh. initdb,
// pg_ctl and postgres refuse to run as root, so as root every call goes through `runuser -u postgres`
// and the directories are handed to that user.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

import { findPgBin, freePort, INSTALL_HINT, isRoot, pidAlive, stopPid, tailFile, userIds, waitFor } from './processes.mjs';

// sun_path is 108 bytes on Linux; a longer socket path makes postgres refuse to start.
const MAX_SOCKET_PATH = 100;

/** Same server and credentials, another database. */
export function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The URL with any password replaced by ***, for printing. */
export function maskPassword(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** Connects and returns `server_version`; rejects when the server does not answer in time. */
export async function probePostgres(url, { timeoutMs = 2_000 } = {}) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // pg emits 'error' on a connection dropped after connect; without a listener that would crash us
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query('SHOW server_version');
    return rows[0].server_version;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function postgresReachable(url, opts) {
  try {
    await probePostgres(url, opts);
    return true;
  } catch {
    return false;
  }
}

/** pid of the postmaster from postmaster.pid, or undefined. */
export function postmasterPid(dataDir) {
  return lockPid(join(dataDir, 'postmaster.pid'));
}

/** Port of the running postmaster from postmaster.pid (line 4), or undefined. */
export function postmasterPort(dataDir) {
  try {
    const port = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** `pg_ctl stop`; resolves when the cluster is down (or was not running). */
export async function pgCtlStop(dataDir, { mode = 'fast' } = {}) {
  const pid = postmasterPid(dataDir);
  if (pid === undefined || !pidAlive(pid)) return;
  const bin = requirePgBin();
  try {
    await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  } catch {
    await stopPid(pid, { signal: 'SIGKILL', group: true });
  }
}

/**
 * initdb (unless dataDir already holds a cluster) and `pg_ctl start`. fast: fsync, synchronous_commit
 * and full_page_writes off, for ordinary integration tests only, never durability tests or the mesh.
 * Without dataDir everything lives in a temp dir that stop() removes.
 */
export async function startPostgres({
  port,
  host = '127.0.0.1',
  dataDir,
  socketDir,
  logFile,
  fast = false,
  maxConnections = 300,
  settings = {},
} = {}) {
  const bin = requirePgBin();
  const ownDir = dataDir === undefined ? mkdtempSync(join(tmpdir(), 'lifeline-pg-')) : undefined;
  if (ownDir !== undefined) chmodSync(ownDir, 0o755); // the postgres user must traverse it
  const data = dataDir ?? join(ownDir, 'pg');
  const sockets = socketDir ?? join(ownDir ?? dirname(data), 'sock');
  const log = logFile ?? join(ownDir ?? dirname(data), 'postgres.log');
  prepareDirs({ data, sockets, log });

  if (!existsSync(join(data, 'PG_VERSION'))) {
    const args = ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'];
    await asPostgres(join(bin, 'initdb'), fast ? [...args, '--no-sync'] : args);
  }
  const options = { host, sockets, fast, maxConnections, settings };
  let currentPort = await launch({ bin, data, log, port, options });
  const url = () => `postgres://postgres@${host}:${currentPort}/postgres`;

  return {
    get url() {
      return url();
    },
    get port() {
      return currentPort;
    },
    get pid() {
      return postmasterPid(data);
    },
    dataDir: data,
    logFile: log,
    /** `pg_ctl stop -m <mode>` (default fast), then removes the temp dir it created. */
    async stop({ mode = 'fast' } = {}) {
      await pgCtlStop(data, { mode });
      if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
    },
    /** SIGKILL to the postmaster and its backends: the crash case. The data dir stays. */
    async kill9() {
      const pid = postmasterPid(data);
      if (pid !== undefined) await stopPid(pid, { signal: 'SIGKILL', group: true, timeoutMs: 5_000 });
    },
    /** Starts again on the same port and data dir (crash recovery runs after kill9). */
    async restart() {
      await pgCtlStop(data, { mode: 'fast' });
      currentPort = await launch({ bin, data, log, port: currentPort, options });
    },
  };
}

async function launch({ bin, data, log, port, options }) {
  // A kernel-chosen port can be taken before postgres binds it; retry with a new one then.
  for (let attempt = 1; ; attempt += 1) {
    const chosen = port ?? (await freePort(options.host));
    removeStaleLocks(data, options.sockets, chosen);
    try {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-o', serverOptions(chosen, options), '-w', '-t', '60', 'start']);
      const url = `postgres://postgres@${options.host}:${chosen}/postgres`;
      await waitFor(() => postgresReachable(url, { timeoutMs: 1_000 }), { timeoutMs: 30_000, what: `PostgreSQL on port ${chosen}` });
      return chosen;
    } catch (err) {
      const portTaken = /could not bind|address already in use/i.test(tailFile(log, 10));
      if (port === undefined && portTaken && attempt < 3) continue;
      throw new Error(`PostgreSQL did not start (log ${log}):\n${tailFile(log, 15)}`, { cause: err });
    }
  }
}

// After a kill -9 the old postmaster can linger as a zombie when PID 1 does not reap orphans (as in
// some sandboxes); postgres then sees its pid "alive" in its lock files and refuses to start. A lock
// whose pid is dead (or a zombie) is stale.
function removeStaleLocks(data, sockets, port) {
  const socket = join(sockets, `.s.PGSQL.${port}`);
  for (const [lock, extra] of [[join(data, 'postmaster.pid'), undefined], [`${socket}.lock`, socket]]) {
    const pid = lockPid(lock);
    if (pid === undefined || pidAlive(pid)) continue;
    rmSync(lock, { force: true });
    if (extra !== undefined) rmSync(extra, { force: true });
  }
}

function lockPid(file) {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function serverOptions(port, { host, sockets, fast, maxConnections, settings }) {
  const socketPath = join(sockets, `.s.PGSQL.${port}`);
  const all = {
    listen_addresses: host,
    // an empty list disables Unix sockets; clients here all use TCP
    unix_socket_directories: socketPath.length <= MAX_SOCKET_PATH ? sockets : '',
    max_connections: String(maxConnections),
    ...(fast ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
    ...settings,
  };
  // pg_ctl hands -o to /bin/sh, so every value is single-quoted
  return [`-p ${port}`, ...Object.entries(all).map(([k, v]) => `-c ${k}=${shellQuote(String(v))}`)].join(' ');
}

function shellQuote(value) {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function prepareDirs({ data, sockets, log }) {
  mkdirSync(data, { recursive: true, mode: 0o700 });
  mkdirSync(sockets, { recursive: true });
  mkdirSync(dirname(log), { recursive: true });
  closeSync(openSync(log, 'a'));
  if (isRoot()) {
    const { uid, gid } = userIds('postgres');
    for (const path of [data, sockets, log]) chownSync(path, uid, gid);
  }
  chmodSync(data, 0o700);
}

function requirePgBin() {
  const bin = findPgBin();
  if (bin === undefined) throw new Error(`PostgreSQL binaries (initdb, pg_ctl) not found; ${INSTALL_HINT}`);
  return bin;
}

function asPostgres(command, args) {
  const [file, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    // cwd "/" because the postgres user cannot enter root's working directory
    execFile(file, argv, { cwd: '/', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command.split('/').pop()} failed: ${(stderr || stdout || err.message).trim()}`, { cause: err }));
      else resolve(stdout);
    });
  });
}
