// Infrastructure for `./mesh up`: the user's NATS_URL / DATABASE_URL when they answer, otherwise a
// private nats-server and PostgreSQL under .mesh/ that outlive the command and are reused by the next
// `up`. Durable settings (no fsync=off): this is where people try the system, crashes included.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { natsReachable, startNatsServer } from '../../libs/testing/src/nats-server.mjs';
import {
  maskPassword,
  pgCtlStop,
  postgresReachable,
  postmasterPid,
  postmasterPort,
  startPostgres,
} from '../../libs/testing/src/postgres-server.mjs';
import { isPortFree, pickPort, pidAlive, pidMatches, stopPid } from '../../libs/testing/src/processes.mjs';

const NATS_PORT_PREFERRED = 14222;
const PG_PORT_PREFERRED = 15432;

export function meshPaths(root) {
  const dir = join(root, '.mesh');
  return {
    dir,
    nats: join(dir, 'nats'),
    pg: join(dir, 'pg'),
    sock: join(dir, 'sock'),
    logs: join(dir, 'logs'),
    state: join(dir, 'state.json'),
  };
}

export function readState(paths) {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8'));
  } catch {
    return {};
  }
}

export function writeState(paths, state) {
  mkdirSync(paths.dir, { recursive: true });
  const tmp = `${paths.state}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`);
  renameSync(tmp, paths.state); // atomic: `status` never reads half a file
}

/** What the environment offers: a reachable NATS_URL / DATABASE_URL, or undefined. */
export async function externalInfra() {
  const natsUrl = nonEmpty(process.env.NATS_URL);
  const databaseUrl = nonEmpty(process.env.DATABASE_URL);
  return {
    natsUrl: natsUrl !== undefined && (await natsReachable(natsUrl)) ? natsUrl : undefined,
    databaseUrl: databaseUrl !== undefined && (await postgresReachable(databaseUrl)) ? databaseUrl : undefined,
    natsGiven: natsUrl,
    databaseGiven: databaseUrl,
  };
}

/** Resolves (reusing or starting) NATS and PostgreSQL; returns the state's nats/postgres entries. */
export async function ensureInfra({ paths, state, external, log }) {
  mkdirSync(paths.logs, { recursive: true });
  const [nats, postgres] = await Promise.all([ensureNats(paths, state.nats, external, log), ensurePostgres(paths, state.postgres, external, log)]);
  return { nats, postgres };
}

async function ensureNats(paths, previous, external, log) {
  const runningPrivate = previous?.private === true && natsAlive(previous.pid);
  if (external.natsUrl !== undefined) {
    if (runningPrivate) await stopPid(previous.pid); // switching to the user's server
    log(`NATS: using NATS_URL ${external.natsUrl}`);
    return { url: external.natsUrl, private: false };
  }
  if (external.natsGiven !== undefined) log(`NATS: NATS_URL ${external.natsGiven} does not answer with JetStream; using a private nats-server`);
  if (runningPrivate && (await natsReachable(previous.url))) {
    log(`NATS: reusing private nats-server ${previous.url} (pid ${previous.pid})`);
    return previous;
  }
  const port = previous?.port !== undefined && (await isPortFree(previous.port)) ? previous.port : await pickPort(NATS_PORT_PREFERRED);
  const server = await startNatsServer({ port, storeDir: paths.nats, logFile: join(paths.logs, 'nats.log'), detached: true });
  log(`NATS: started private nats-server ${server.url} (pid ${server.pid}, store ${paths.nats})`);
  return { url: server.url, private: true, pid: server.pid, port: server.port, storeDir: paths.nats };
}

async function ensurePostgres(paths, previous, external, log) {
  const pid = postmasterPid(paths.pg);
  const runningPrivate = pid !== undefined && pidAlive(pid);
  if (external.databaseUrl !== undefined) {
    if (runningPrivate) await pgCtlStop(paths.pg, { mode: 'fast' });
    log(`PostgreSQL: using DATABASE_URL ${maskPassword(external.databaseUrl)}`);
    return { url: external.databaseUrl, private: false };
  }
  if (external.databaseGiven !== undefined) {
    log(`PostgreSQL: DATABASE_URL ${maskPassword(external.databaseGiven)} does not answer; using a private PostgreSQL`);
  }
  if (runningPrivate) {
    const port = postmasterPort(paths.pg);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    if (await postgresReachable(url)) {
      log(`PostgreSQL: reusing private cluster ${url} (pid ${pid})`);
      return { url, private: true, port, dataDir: paths.pg };
    }
  }
  const port = previous?.port !== undefined && (await isPortFree(previous.port)) ? previous.port : await pickPort(PG_PORT_PREFERRED);
  const fresh = !existsSync(join(paths.pg, 'PG_VERSION'));
  const server = await startPostgres({
    port,
    dataDir: paths.pg,
    socketDir: paths.sock,
    logFile: join(paths.logs, 'postgres.log'),
    fast: false,
    maxConnections: 200,
  });
  log(`PostgreSQL: ${fresh ? 'initialised and started' : 'started'} private cluster ${server.url} (data ${paths.pg})`);
  return { url: server.url, private: true, port: server.port, dataDir: paths.pg };
}

/** Stops the private servers recorded in state (PostgreSQL with a clean fast shutdown). */
export async function stopInfra({ paths, state, log }) {
  if (state.nats?.private && natsAlive(state.nats.pid)) {
    await stopPid(state.nats.pid, { timeoutMs: 15_000 });
    log(`NATS: stopped private nats-server (pid ${state.nats.pid})`);
  }
  const pid = postmasterPid(paths.pg);
  if (pid !== undefined && pidAlive(pid)) {
    await pgCtlStop(paths.pg, { mode: 'fast' });
    log(`PostgreSQL: stopped private cluster (pid ${pid})`);
  }
}

export function natsAlive(pid) {
  return pid !== undefined && pidAlive(pid) && pidMatches(pid, 'nats-server');
}

function nonEmpty(value) {
  return value === undefined || value === '' ? undefined : value;
}
