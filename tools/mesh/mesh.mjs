#!/usr/bin/env node
// `./mesh`: run Lifeline locally (up, down, status, logs) and run every test tier (test). See README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { natsReachable } from '../../libs/testing/src/nats-server.mjs';
import { maskPassword, postgresReachable } from '../../libs/testing/src/postgres-server.mjs';
import { pidAlive, pidMatches } from '../../libs/testing/src/processes.mjs';
import { ensureInfra, externalInfra, meshPaths, readState, stopInfra, writeState } from './infra.mjs';
import { ensureDatabases, MESH_SERVICES, probeHealth, resolveServices, startMesh, stopMesh } from './mesh-lib.mjs';
import { build, ensureBinaries, ensureDependencies, StepError } from './setup.mjs';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const paths = meshPaths(root);
const log = (line) => console.log(line);

const HELP = `Lifeline local mesh

  ./mesh up [--infra-only] [--skip-install] [--skip-build] [--services a,b] [--prefix p]
      install deps if needed, build, start NATS + PostgreSQL (NATS_URL / DATABASE_URL when set and
      reachable, else private servers under .mesh/), provision JetStream, migrate, start all services
  ./mesh down [--purge]     stop services, then private servers; --purge also deletes .mesh/
  ./mesh status [--json]    infrastructure, services, health
  ./mesh logs <service|nats|postgres|provision> [-n 100] [--no-follow]
  ./mesh test [typecheck|lint|unit|int|timing|e2e ...] [--bail] [--skip-install] [--skip-build]
      typecheck, lint and the unit, int, timing and e2e tiers (the CI entry point, see .ci/run)
  ./mesh help
`;

function flag(args, name) {
  return args.includes(name);
}

function option(args, name) {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

async function up(args) {
  const started = Date.now();
  const infraOnly = flag(args, '--infra-only');
  if (!infraOnly && !flag(args, '--skip-install')) ensureDependencies(root, log);
  const external = await externalInfra();
  ensureBinaries({ nats: external.natsUrl === undefined, postgres: external.databaseUrl === undefined }, log);
  if (!infraOnly && !flag(args, '--skip-build')) build(root, log);

  const state = readState(paths);
  if (Object.keys(state.services ?? {}).length > 0) {
    log('services: stopping the previous run');
    await stopMesh(state);
    state.services = {};
  }
  const infra = await ensureInfra({ paths, state, external, log });
  const prefix = option(args, '--prefix') ?? '';
  Object.assign(state, { root, prefix, ...infra, logs: paths.logs, services: {}, mllp: undefined });
  writeState(paths, state);

  const requested = option(args, '--services')?.split(',').filter(Boolean);
  if (infraOnly) {
    const dbs = await ensureDatabases({ adminDatabaseUrl: infra.postgres.url, services: resolveServices(root, requested), prefix });
    for (const [svc, url] of Object.entries(dbs)) log(`database for ${svc}: ${maskPassword(url)}`);
    printEndpoints(state, started);
    return 0;
  }
  log('services:');
  try {
    const mesh = await startMesh({
      root,
      natsUrl: infra.nats.url,
      adminDatabaseUrl: infra.postgres.url,
      prefix,
      logsDir: paths.logs,
      services: requested,
      preferPorts: true,
      detached: true,
      log,
      onServiceStarted: (name, info) => {
        state.services[name] = { pid: info.pid, port: info.port, http: info.url, logFile: info.logFile };
        writeState(paths, state);
      },
    });
    state.mllp = mesh.endpoints.mllp.port === undefined ? undefined : mesh.endpoints.mllp;
    writeState(paths, state);
  } catch (err) {
    state.services = {};
    writeState(paths, state);
    console.error(`\n${process.env.MESH_DEBUG ? err.stack : err.message}`);
    console.error(`\nThe mesh is not up (infrastructure left running; ./mesh down stops it). Logs: ${paths.logs}`);
    return 1;
  }
  printEndpoints(state, started);
  return 0;
}

function inStartOrder(services = {}) {
  const rank = (name) => MESH_SERVICES.findIndex((s) => s.name === name);
  return Object.entries(services).sort(([a], [b]) => rank(a) - rank(b));
}

function printEndpoints(state, started) {
  const rows = [];
  if (state.mllp) rows.push(['MLLP (HL7 v2)', `${state.mllp.host}:${state.mllp.port}`]);
  for (const [svc, info] of inStartOrder(state.services)) rows.push([svc, info.http]);
  rows.push(['NATS', `${state.nats.url}${state.nats.private ? ' (private, .mesh/nats)' : ''}`]);
  rows.push(['PostgreSQL', `${maskPassword(state.postgres.url)}${state.postgres.private ? ' (private, .mesh/pg)' : ''}`]);
  rows.push(['logs', paths.logs]);
  const width = Math.max(...rows.map(([k]) => k.length));
  log(`\n${Object.keys(state.services ?? {}).length === 0 ? 'Lifeline infrastructure' : 'Lifeline mesh'} is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  for (const [k, v] of rows) log(`  ${k.padEnd(width)}  ${v}`);
  if (state.mllp) {
    log(`\nSend a message:  node tools/mesh/send-hl7.mjs tools/mesh/samples/orm-o01.hl7 --port ${state.mllp.port}`);
  }
  log('Status: ./mesh status    Logs: ./mesh logs <service>    Stop: ./mesh down');
}

async function down(args) {
  const state = readState(paths);
  if (Object.keys(state.services ?? {}).length > 0) {
    log('stopping services');
    await stopMesh(state);
  }
  await stopInfra({ paths, state, log });
  if (flag(args, '--purge')) {
    rmSync(paths.dir, { recursive: true, force: true });
    log(`deleted ${paths.dir}`);
  } else if (existsSync(paths.dir)) {
    writeState(paths, { ...state, services: {}, mllp: undefined });
  }
  log('mesh is down');
  return 0;
}

async function status(args) {
  const state = readState(paths);
  const report = {
    nats: state.nats ? { url: state.nats.url, private: state.nats.private, reachable: await natsReachable(state.nats.url) } : null,
    postgres: state.postgres
      ? { url: maskPassword(state.postgres.url), private: state.postgres.private, reachable: await postgresReachable(state.postgres.url) }
      : null,
    mllp: state.mllp ?? null,
    logs: paths.logs,
    services: {},
  };
  for (const [svc, info] of inStartOrder(state.services)) {
    const alive = pidAlive(info.pid) && pidMatches(info.pid, `services/${svc}/dist/main.js`);
    report.services[svc] = { pid: info.pid, alive, http: info.http, health: alive ? await probeHealth(info.http) : 'down' };
  }
  if (flag(args, '--json')) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  const yes = (b) => (b ? 'reachable' : 'NOT reachable');
  log(`NATS        ${report.nats ? `${report.nats.url}  ${report.nats.private ? 'private' : 'external'}  ${yes(report.nats.reachable)}` : 'not started (./mesh up)'}`);
  log(`PostgreSQL  ${report.postgres ? `${report.postgres.url}  ${report.postgres.private ? 'private' : 'external'}  ${yes(report.postgres.reachable)}` : 'not started'}`);
  log(`MLLP        ${report.mllp ? `${report.mllp.host}:${report.mllp.port}` : '-'}`);
  log(`logs        ${report.logs}`);
  const services = Object.entries(report.services);
  if (services.length === 0) log('services    none running');
  else {
    log(`\n  ${'service'.padEnd(18)} ${'pid'.padEnd(8)} ${'alive'.padEnd(6)} ${'health'.padEnd(8)} http`);
    for (const [svc, s] of services) log(`  ${svc.padEnd(18)} ${String(s.pid).padEnd(8)} ${String(s.alive).padEnd(6)} ${s.health.padEnd(8)} ${s.http}`);
  }
  return 0;
}

function logs(args) {
  const name = args.find((a) => !a.startsWith('-') && a !== option(args, '-n'));
  const file = name === undefined ? undefined : join(paths.logs, `${name}.log`);
  if (file === undefined || !existsSync(file)) {
    const known = existsSync(paths.logs) ? readdirSync(paths.logs).map((f) => f.replace(/\.log$/, '')) : [];
    console.error(`usage: ./mesh logs <name>; available: ${known.join(', ') || 'none (./mesh up first)'}`);
    return 1;
  }
  const tailArgs = ['-n', option(args, '-n') ?? '100', ...(flag(args, '--no-follow') ? [] : ['-F']), file];
  return spawnSync('tail', tailArgs, { stdio: 'inherit' }).status ?? 1;
}

const TIERS = {
  typecheck: ['npm', ['run', '-s', 'typecheck']],
  lint: ['npm', ['run', '-s', 'lint']],
  unit: ['npm', ['run', '-s', 'test:unit']],
  int: ['npm', ['run', '-s', 'test:int']],
  timing: ['npm', ['run', '-s', 'test:timing']],
  e2e: ['npm', ['run', '-s', 'test:e2e']],
};

async function test(args) {
  const started = Date.now();
  if (!flag(args, '--skip-install')) ensureDependencies(root, log);
  const external = await externalInfra();
  ensureBinaries({ nats: external.natsUrl === undefined, postgres: external.databaseUrl === undefined }, log);
  if (!flag(args, '--skip-build')) build(root, log);

  const chosen = args.filter((a) => a in TIERS);
  const tiers = chosen.length > 0 ? chosen : Object.keys(TIERS);
  const results = [];
  for (const tier of tiers) {
    const [command, tierArgs] = TIERS[tier];
    log(`\n=== ${tier}: ${command} ${tierArgs.join(' ')}`);
    const t = Date.now();
    // NATS_URL / DATABASE_URL reach the Jest globalSetup only if the user set them: we pass our env as is
    const code = spawnSync(command, tierArgs, { cwd: root, stdio: 'inherit', env: process.env }).status ?? 1;
    results.push({ tier, ok: code === 0, seconds: (Date.now() - t) / 1000 });
    if (code !== 0 && flag(args, '--bail')) break;
  }
  log('\n=== summary');
  for (const r of results) log(`  ${r.tier.padEnd(10)} ${r.ok ? 'PASS' : 'FAIL'}  ${r.seconds.toFixed(1)} s`);
  const failed = results.filter((r) => !r.ok).length;
  log(`  total      ${((Date.now() - started) / 1000).toFixed(1)} s, ${failed === 0 ? 'all passed' : `${failed} of ${results.length} failed`}`);
  return failed === 0 && results.length === tiers.length ? 0 : 1;
}

const COMMANDS = { up, down, status, logs, test, help: () => (console.log(HELP), 0) };

const [command = 'help', ...rest] = process.argv.slice(2);
const handler = COMMANDS[command] ?? COMMANDS[command.replace(/^--?/, '')];
if (handler === undefined) {
  console.error(`unknown command "${command}"\n\n${HELP}`);
  process.exit(2);
}
try {
  process.exitCode = await handler(rest);
} catch (err) {
  console.error(err instanceof StepError || !process.env.MESH_DEBUG ? `mesh ${command}: ${err.message}` : err.stack);
  process.exitCode = 1;
}
