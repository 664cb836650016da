// Starts the Lifeline services as real processes against a given NATS and PostgreSQL: databases,
// migrations, JetStream topology, then every service, waiting for /health/ready. Used by `./mesh up`
// and by the e2e tests (own prefix and databases on the shared servers). Plain JS: runs unbuilt.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import pg from 'pg';

import { withDatabase } from '../../libs/testing/src/postgres-server.mjs';
import { GiveUpError, pickPort, pidAlive, pidMatches, stopPid, waitFor } from '../../libs/testing/src/processes.mjs';

/** Start order; the preferred HTTP port of a service is 3100 + its index here. */
export const MESH_SERVICES = [
  { name: 'external-sim', database: false },
  { name: 'lab', database: true },
  { name: 'notifications', database: true },
  { name: 'orders', database: true },
  { name: 'saga-orchestrator', database: true },
  { name: 'normalizer', database: true },
  { name: 'ingest-gateway', database: false, mllp: true },
  // Last, so the preferred ports of the services before it stay where they were.
  { name: 'billing', database: true },
];

const HOST = '127.0.0.1';
const HTTP_PORT_BASE = 3100;
const MLLP_PORT_PREFERRED = 2575;
const STARTING_AT_ONCE = 2; // two cores: more parallel Nest boots only slow each other down
const TAIL_LINES = 30;
// Environment a service inherits from ours; everything else it gets is set explicitly below.
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'LOG_LEVEL', 'CONSUMER_LEASES', 'CONSUMER_LEASE_TTL_MS', 'GROUP_COMMIT', 'GROUP_COMMIT_MAX_BATCH', 'GROUP_COMMIT_MAX_PARALLEL'];

/** `lifeline_<svc>` with - → _, behind `<prefix>_` when there is a prefix. */
export function databaseName(service, prefix = '') {
  const base = `lifeline_${service.replace(/-/g, '_')}`;
  return prefix === '' ? base : `${prefix.replace(/-/g, '_')}_${base}`;
}

/** Services to run: the requested ones (all must exist) or every known one present under services/. */
export function resolveServices(root, requested) {
  if (requested !== undefined) {
    const unknown = requested.filter((n) => !MESH_SERVICES.some((s) => s.name === n));
    if (unknown.length > 0) throw new Error(`unknown service(s): ${unknown.join(', ')}`);
    return MESH_SERVICES.filter((s) => requested.includes(s.name));
  }
  return MESH_SERVICES.filter((s) => existsSync(join(root, 'services', s.name, 'package.json')));
}

/** Creates each missing database. Returns service name → database URL. */
export async function ensureDatabases({ adminDatabaseUrl, services, prefix = '' }) {
  const urls = {};
  const client = new pg.Client({ connectionString: adminDatabaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    for (const service of services.filter((s) => s.database)) {
      const name = databaseName(service.name, prefix);
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount === 0) await createDatabase(client, name);
      urls[service.name] = withDatabase(adminDatabaseUrl, name);
    }
  } finally {
    await client.end();
  }
  return urls;
}

async function createDatabase(client, name) {
  await waitFor(
    async () => {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
        return true;
      } catch (err) {
        if (err.code === '42P04') return true; // created meanwhile by a concurrent mesh
        if (err.code === '55006') return false; // template1 busy: another CREATE DATABASE is copying it
        throw new GiveUpError(`CREATE DATABASE ${name}: ${err.message}`);
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `CREATE DATABASE ${name}` },
  );
}

/**
 * Starts the mesh. Options: root, natsUrl, adminDatabaseUrl, prefix (''), logsDir (<root>/.mesh/logs),
 * env (extra env for every service), services (names), preferPorts (3100+i / 2575, else any free
 * port), detached (outlive this process), provision (true), migrate (true), readyTimeoutMs (60 s),
 * onServiceStarted(name, info), log(line).
 */
export async function startMesh(options) {
  const root = resolve(options.root);
  const o = {
    prefix: '',
    logsDir: join(root, '.mesh', 'logs'),
    env: {},
    preferPorts: false,
    detached: false,
    provision: true,
    migrate: true,
    readyTimeoutMs: 60_000,
    onServiceStarted: () => {},
    log: () => {},
    ...options,
    root,
  };
  const services = resolveServices(root, o.services);
  if (services.length === 0) throw new Error(`no services found under ${join(root, 'services')}`);
  for (const s of services) {
    if (!existsSync(mainOf(root, s.name))) throw new Error(`services/${s.name} is not built (${mainOf(root, s.name)} missing): run npm run build`);
  }
  mkdirSync(o.logsDir, { recursive: true });

  const databases = await ensureDatabases({ adminDatabaseUrl: o.adminDatabaseUrl, services, prefix: o.prefix });
  const plan = await planPorts(services, o.preferPorts);
  const specs = Object.fromEntries(services.map((s) => [s.name, serviceSpec(s, plan, databases, o)]));

  await Promise.all([
    o.provision ? provisionTopology({ root, natsUrl: o.natsUrl, prefix: o.prefix, logFile: join(o.logsDir, 'provision.log'), log: o.log }) : undefined,
    o.migrate ? inPool(services.filter((s) => s.database), STARTING_AT_ONCE, (s) => runMigrations(specs[s.name], o.log)) : undefined,
  ]);

  const running = {};
  const handle = {
    prefix: o.prefix,
    natsUrl: o.natsUrl,
    endpoints: { mllp: { host: HOST, port: plan.mllpPort }, http: {} },
    databases,
    services: running,
    stop: () => stopMesh(handle),
    async kill9(name) {
      const pid = requireService(running, name).pid;
      await stopPid(pid, { signal: 'SIGKILL', timeoutMs: 5_000 });
    },
    async restart(name) {
      const current = requireService(running, name);
      if (pidAlive(current.pid)) await stopPid(current.pid);
      running[name] = await startService(specs[name], o);
      o.onServiceStarted(name, running[name]);
    },
  };
  try {
    const [first, ...rest] = services;
    for (const batch of [[first], rest]) {
      await inPool(batch, STARTING_AT_ONCE, async (s) => {
        running[s.name] = await startService(specs[s.name], o);
        handle.endpoints.http[s.name] = running[s.name].url;
        o.onServiceStarted(s.name, running[s.name]);
      });
    }
  } catch (err) {
    await stopMesh(handle);
    throw err;
  }
  return handle;
}

/**
 * Stops services (SIGTERM, SIGKILL after timeoutMs): ingest-gateway first so no new input arrives,
 * external-sim last so in-flight calls can still complete. Accepts a startMesh handle or the
 * `services` record of .mesh/state.json.
 */
export async function stopMesh(mesh, { timeoutMs = 15_000 } = {}) {
  const entries = Object.entries(mesh.services ?? {});
  const stop = ([name, info]) =>
    pidAlive(info.pid) && pidMatches(info.pid, `services/${name}/dist/main.js`) ? stopPid(info.pid, { timeoutMs }) : undefined;
  const phase = (names, include) => Promise.all(entries.filter(([n]) => include === names.includes(n)).map(stop));
  await phase(['ingest-gateway'], true);
  await phase(['ingest-gateway', 'external-sim'], false);
  await phase(['external-sim'], true);
}

/** GET /health/ready: 'up' on 200, 'down' on another status or a refused connection, 'unknown' on timeout. */
export function probeHealth(url, { timeoutMs = 1_500 } = {}) {
  return new Promise((resolveHealth) => {
    const req = request(`${url}/health/ready`, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolveHealth(res.statusCode === 200 ? 'up' : 'down');
    });
    req.on('timeout', () => {
      req.destroy();
      resolveHealth('unknown');
    });
    req.on('error', () => resolveHealth('down'));
    req.end();
  });
}

/**
 * Ports for one mesh, distinct from each other. Each pick only checks what is bound now, and nothing
 * of this plan is bound until the services start: CI once gave saga-orchestrator's HTTP port to the
 * gateway's MLLP listener (EADDRINUSE at start). `pick` is injectable for the unit test.
 */
export async function planPorts(services, preferPorts, pick = pickPort) {
  const taken = new Set();
  const distinct = async (preferred) => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const port = await pick(attempt === 0 ? preferred : undefined);
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
    throw new Error('mesh: no port distinct from the plan\'s others after 20 picks');
  };
  const http = {};
  for (const s of services) {
    const index = MESH_SERVICES.findIndex((m) => m.name === s.name);
    http[s.name] = await distinct(preferPorts ? HTTP_PORT_BASE + index : undefined);
  }
  const mllpPort = services.some((s) => s.mllp) ? await distinct(preferPorts ? MLLP_PORT_PREFERRED : undefined) : undefined;
  return { http, mllpPort };
}

function serviceSpec(service, plan, databases, o) {
  const env = {};
  for (const key of INHERITED_ENV) if (process.env[key] !== undefined) env[key] = process.env[key];
  // OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL and friends reach the SDK only when the user set them
  for (const [key, value] of Object.entries(process.env)) if (key.startsWith('OTEL_') && value !== undefined) env[key] = value;
  const simPort = plan.http['external-sim'];
  Object.assign(env, {
    NODE_ENV: 'development',
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    NATS_URL: o.natsUrl,
    NATS_PREFIX: o.prefix,
    HTTP_HOST: HOST,
    HTTP_PORT: String(plan.http[service.name]),
    OTEL_SERVICE_NAME: service.name,
    ...(service.database ? { DATABASE_URL: databases[service.name] } : {}),
    ...(service.mllp ? { MLLP_PORT: String(plan.mllpPort) } : {}),
    ...(service.name === 'lab' && simPort !== undefined ? { LIS_BASE_URL: `http://${HOST}:${simPort}/lis` } : {}),
    ...(service.name === 'notifications' && simPort !== undefined ? { EHR_INBOX_BASE_URL: `http://${HOST}:${simPort}/ehr` } : {}),
    ...(service.name === 'billing' && simPort !== undefined ? { BILLING_BASE_URL: `http://${HOST}:${simPort}/billing` } : {}),
    ...o.env,
  });
  return { name: service.name, root: o.root, env, port: plan.http[service.name], logFile: join(o.logsDir, `${service.name}.log`) };
}

async function startService(spec, o) {
  const dist = join(spec.root, 'services', spec.name, 'dist');
  const args = ['--enable-source-maps'];
  if (existsSync(join(dist, 'instrumentation.js'))) args.push('--import', `./services/${spec.name}/dist/instrumentation.js`);
  args.push(`./services/${spec.name}/dist/main.js`);
  const offset = appendLine(spec.logFile, `=== ${new Date().toISOString()} starting ${spec.name} on port ${spec.port}`);
  const fd = openSync(spec.logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: spec.root, env: spec.env, detached: o.detached, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (o.detached) child.unref();
  const url = `http://${HOST}:${spec.port}`;
  o.log(`  starting ${spec.name} (pid ${child.pid}) on ${url}`);
  try {
    await waitFor(
      async () => {
        if (!pidAlive(child.pid)) throw new GiveUpError(`${spec.name} exited`);
        return (await probeHealth(url)) === 'up';
      },
      { timeoutMs: o.readyTimeoutMs, intervalMs: 250, what: `${url}/health/ready` },
    );
  } catch (err) {
    await stopPid(child.pid ?? -1, { signal: 'SIGKILL' });
    throw new ServiceStartError(spec.name, err.message, tailSince(spec.logFile, offset, TAIL_LINES), { cause: err });
  }
  return { pid: child.pid, port: spec.port, url, logFile: spec.logFile, databaseUrl: spec.env.DATABASE_URL };
}

export class ServiceStartError extends Error {
  constructor(service, reason, logTail, opts) {
    super(`${service} did not become ready: ${reason}\n--- last ${TAIL_LINES} log lines of ${service} ---\n${logTail}`, opts);
    this.service = service;
    this.logTail = logTail;
  }
}

async function runMigrations(spec, log) {
  const script = join(spec.root, 'services', spec.name, 'dist', 'migrate.js');
  if (!existsSync(script)) {
    log(`  ${spec.name}: no dist/migrate.js, skipping migrations`);
    return;
  }
  log(`  migrating ${spec.name}`);
  await runToLog({ root: spec.root, args: [script], env: spec.env, logFile: spec.logFile, what: `migrations of ${spec.name}` });
}

/** `node tools/mesh/provision.mjs` for one prefix; output goes to logFile. */
export async function provisionTopology({ root, natsUrl, prefix = '', logFile, log = () => {} }) {
  log(`  provisioning JetStream topology${prefix === '' ? '' : ` (prefix ${prefix})`}`);
  const env = { PATH: process.env.PATH ?? '', NATS_URL: natsUrl, NATS_PREFIX: prefix };
  await runToLog({ root, args: [join(root, 'tools', 'mesh', 'provision.mjs')], env, logFile, what: 'JetStream provisioning' });
}

function runToLog({ root, args, env, logFile, what, timeoutMs = 120_000 }) {
  const offset = appendLine(logFile, `=== ${new Date().toISOString()} ${what}`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--enable-source-maps', ...args], { cwd: root, env, stdio: ['ignore', fd, fd], timeout: timeoutMs });
  closeSync(fd);
  return new Promise((resolveRun, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) return resolveRun();
      const tail = tailSince(logFile, offset, TAIL_LINES);
      reject(new Error(`${what} failed (${signal ?? `exit ${code}`}); log ${logFile}:\n${tail}`));
    });
  });
}

/** Appends a line and returns the file size before it, so a later tail shows only this run. */
function appendLine(file, line) {
  const offset = existsSync(file) ? statSync(file).size : 0;
  const fd = openSync(file, 'a');
  writeSync(fd, `${line}\n`);
  closeSync(fd);
  return offset;
}

function tailSince(file, offset, n) {
  try {
    const lines = readFileSync(file).subarray(offset).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Runs work over items, size at a time; after a failure no new item starts, and it waits for the rest. */
async function inPool(items, size, work) {
  const queue = [...items];
  let failure;
  const workers = Array.from({ length: Math.min(size, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined && failure === undefined; item = queue.shift()) {
      try {
        await work(item);
      } catch (err) {
        failure ??= err;
      }
    }
  });
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
}

function requireService(running, name) {
  const info = running[name];
  if (info === undefined) throw new Error(`service ${name} is not part of this mesh`);
  return info;
}

function mainOf(root, name) {
  return join(root, 'services', name, 'dist', 'main.js');
}
