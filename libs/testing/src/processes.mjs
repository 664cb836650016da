// Process plumbing shared by the Jest harness (global-setup.mjs), the fault tests (via index.ts) and
// tools/mesh. Plain JS so the mesh runs before anything is built; types live in processes.d.mts.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const INSTALL_HINT =
  'install the Debian packages: apt-get update && apt-get install -y nats-server postgresql';

/** Absolute path of nats-server, or undefined. `NATS_SERVER_BIN` wins over PATH and /usr/sbin. */
export function findNatsServer() {
  const candidates = [
    process.env.NATS_SERVER_BIN,
    ...pathDirs().map((d) => join(d, 'nats-server')),
    '/usr/sbin/nats-server',
    '/usr/local/bin/nats-server',
  ];
  return candidates.find((c) => c !== undefined && c !== '' && isFile(c));
}

/**
 * Directory holding initdb and pg_ctl, or undefined. Debian keeps them off PATH in
 * /usr/lib/postgresql/<major>/bin; the newest major wins. `PG_BIN` overrides.
 */
export function findPgBin() {
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  const candidates = [process.env.PG_BIN, ...debian, ...pathDirs()];
  return candidates.find(
    (d) => d !== undefined && d !== '' && isFile(join(d, 'initdb')) && isFile(join(d, 'pg_ctl')),
  );
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * A free TCP port on host, for a server we start a little later. Chosen below the kernel's ephemeral
 * range (net.ipv4.ip_local_port_range): the kernel gives ports from that range to outgoing connections
 * (every NATS and PostgreSQL client socket), so a port picked there can be taken by a client socket
 * before our server binds it (EADDRINUSE seen when benches and tests ran side by side). Below the range
 * only another process picking the same random port can take it. Falls back to a kernel-chosen port.
 */
export async function freePort(host = '127.0.0.1') {
  const [low] = ephemeralRange();
  // 10000-19999: below any usual ephemeral range, apart from the 20000+ band that specs pick themselves
  const top = Math.min(low, 20_000);
  if (top > 12_000) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
      if (await isPortFree(port, host)) return port;
    }
  }
  return kernelPort(host);
}

function ephemeralRange() {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // not Linux: the kernel's choice it is
  }
  return [0, 0];
}

function kernelPort(host) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the bound port'));
      });
    });
  });
}

export function isPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The preferred port when it is free, else any free port. */
export async function pickPort(preferred, host = '127.0.0.1') {
  if (preferred !== undefined && (await isPortFree(preferred, host))) return preferred;
  return freePort(host);
}

/**
 * True while the process exists and is not a zombie. Our PID 1 may not reap orphans, and kill(pid, 0)
 * succeeds on zombies, so /proc is consulted where it exists.
 */
export function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** Whether pid's command line contains needle; guards against signalling a recycled pid. */
export function pidMatches(pid, needle) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(needle);
  } catch {
    return pidAlive(pid);
  }
}

/** Thrown by a waitFor probe to stop waiting at once (the process it waits for has died). */
export class GiveUpError extends Error {}

/** Polls a condition until it returns a truthy value or the deadline passes. */
export async function waitFor(probe, { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      if (err instanceof GiveUpError) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastError });
    }
    await delay(intervalMs);
  }
}

/** Sends signal, waits for the exit, escalates to SIGKILL after timeoutMs. Resolves once it is gone. */
export async function stopPid(pid, { signal = 'SIGTERM', timeoutMs = 15_000, group = false } = {}) {
  if (!pidAlive(pid)) return;
  sendSignal(pid, signal, group);
  try {
    await waitFor(() => !pidAlive(pid), { timeoutMs, intervalMs: 50, what: `pid ${pid} to exit` });
  } catch {
    sendSignal(pid, 'SIGKILL', group);
    await waitFor(() => !pidAlive(pid), { timeoutMs: 5_000, intervalMs: 50, what: `pid ${pid} to die` });
  }
}

function sendSignal(pid, signal, group) {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch (err) {
    // a group signal fails when pid leads no group; the process itself still has to go
    if (group && err.code === 'ESRCH') sendSignal(pid, signal, false);
  }
}

/**
 * SIGKILLs every process whose command line mentions needle (a run's temp dir), except this one.
 * Linux only (/proc); the last sweep after a crashed run.
 */
export function killProcessesMentioning(needle) {
  let entries;
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) continue;
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** uid/gid of an OS user, read with `id` so no native module is needed. */
export function userIds(name) {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Last n lines of a text file ('' when it does not exist). */
export function tailFile(file, n = 30) {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

function pathDirs() {
  return (process.env.PATH ?? '').split(':').filter((d) => d !== '');
}

function isFile(p) {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
