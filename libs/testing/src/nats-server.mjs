// Private nats-server processes for the harness, fault tests and the mesh. Readiness is "a TCP client
// receives the INFO line", which nats-server only sends once JetStream is up.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { findNatsServer, freePort, GiveUpError, INSTALL_HINT, pidAlive, stopPid, tailFile, waitFor } from './processes.mjs';

/** host and port of a nats:// URL (the first one when the URL lists several). */
export function parseNatsUrl(url) {
  const first = url.split(',')[0].trim();
  const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 4222) };
}

/** Connects, reads the INFO line and returns it parsed; rejects when nothing answers in time. */
export function probeNats(url, { timeoutMs = 2_000 } = {}) {
  const { host, port } = parseNatsUrl(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no INFO from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    function finish(err, info) {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(info);
    }
    socket.setEncoding('utf8');
    socket.on('error', (err) => finish(err));
    socket.on('data', (chunk) => {
      buffer += chunk;
      const end = buffer.indexOf('\r\n');
      if (end === -1) return;
      const line = buffer.slice(0, end);
      if (!line.startsWith('INFO ')) return finish(new Error(`unexpected greeting from ${host}:${port}: ${line.slice(0, 80)}`));
      try {
        finish(undefined, JSON.parse(line.slice(5)));
      } catch (err) {
        finish(err);
      }
    });
  });
}

/** True when url answers with an INFO line that has JetStream enabled. */
export async function natsReachable(url, opts) {
  try {
    const info = await probeNats(url, opts);
    return info.jetstream === true;
  } catch {
    return false;
  }
}

/**
 * Starts `nats-server -js` on 127.0.0.1. Without storeDir a temp dir is created and removed by stop().
 * detached: the server outlives this process (the mesh); otherwise it shares our process group, so
 * Ctrl-C reaches it too.
 */
export async function startNatsServer({ port, host = '127.0.0.1', storeDir, logFile, detached = false, args = [] } = {}) {
  const bin = findNatsServer();
  if (bin === undefined) throw new Error(`nats-server not found; ${INSTALL_HINT}`);
  const ownDir = storeDir === undefined ? mkdtempSync(join(tmpdir(), 'lifeline-nats-')) : undefined;
  const store = storeDir ?? join(ownDir, 'js');
  const log = logFile ?? (ownDir !== undefined ? join(ownDir, 'nats.log') : `${store}.log`);
  mkdirSync(store, { recursive: true });
  mkdirSync(dirname(log), { recursive: true });

  let current = await launch({ bin, host, port, store, log, detached, args, fixedPort: port !== undefined });
  const handle = {
    get url() {
      return `nats://${host}:${current.port}`;
    },
    get port() {
      return current.port;
    },
    get pid() {
      return current.pid;
    },
    storeDir: store,
    logFile: log,
    /** SIGTERM (JetStream flushes), then removes the temp dir it created. */
    async stop() {
      await stopPid(current.pid, { timeoutMs: 10_000 });
      if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
    },
    /** SIGKILL without flushing: the crash case for durability tests. The store stays. */
    async kill9() {
      await stopPid(current.pid, { signal: 'SIGKILL', timeoutMs: 5_000 });
    },
    /** Starts again on the same port and store (after kill9, or stopping a live one first). */
    async restart() {
      await stopPid(current.pid, { timeoutMs: 10_000 });
      current = await launch({ bin, host, port: current.port, store, log, detached, args, fixedPort: true });
    },
  };
  return handle;
}

async function launch({ bin, host, port, store, log, detached, args, fixedPort }) {
  // A kernel-chosen port can be taken before nats-server binds it; retry with a new one then.
  for (let attempt = 1; ; attempt += 1) {
    const chosen = port ?? (await freePort(host));
    const fd = openSync(log, 'a');
    writeSync(fd, `=== ${new Date().toISOString()} starting nats-server on ${host}:${chosen}\n`);
    const child = spawn(bin, ['-js', '-a', host, '-p', String(chosen), '-sd', store, ...args], {
      detached,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    child.once('error', () => {
      exited = true;
    });
    if (detached) child.unref();
    try {
      await waitFor(
        async () => {
          if (exited || !pidAlive(child.pid)) throw new GiveUpError('nats-server exited');
          return natsReachable(`nats://${host}:${chosen}`, { timeoutMs: 1_000 });
        },
        { timeoutMs: 15_000, intervalMs: 50, what: `nats-server on ${host}:${chosen}` },
      );
      return { pid: child.pid, port: chosen };
    } catch (err) {
      await stopPid(child.pid ?? -1, { signal: 'SIGKILL' });
      const portTaken = /address already in use/i.test(tailFile(log, 5));
      if (!fixedPort && portTaken && attempt < 3) continue;
      throw new Error(`nats-server did not start (log ${log}):\n${tailFile(log, 15)}`, { cause: err });
    }
  }
}
