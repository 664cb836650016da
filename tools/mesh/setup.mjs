// Steps shared by `./mesh up` and `./mesh test` on a fresh machine: dependencies, server binaries
// (installed with apt when we are root), and the build.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { findNatsServer, findPgBin, isRoot } from '../../libs/testing/src/processes.mjs';

export class StepError extends Error {}

/** Runs a command with inherited stdio; throws StepError on failure. */
export function run(command, args, { cwd, env } = {}) {
  const result = spawnSync(command, args, { cwd, env: env ?? process.env, stdio: 'inherit' });
  if (result.error) throw new StepError(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new StepError(`${command} ${args.join(' ')} failed (${result.signal ?? `exit ${result.status}`})`);
}

/**
 * `npm ci` when node_modules is missing or older than package-lock.json (npm stamps the install in
 * node_modules/.package-lock.json); `npm install` when there is no lock file.
 */
export function ensureDependencies(root, log) {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(lock)) {
    if (existsSync(stamp)) return;
    log('dependencies: no package-lock.json, running npm install');
    run('npm', ['install'], { cwd: root });
    return;
  }
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs) return;
  log(`dependencies: ${existsSync(stamp) ? 'package-lock.json changed' : 'node_modules missing'}, installing`);
  // npm ci refuses this lock when the registry mirror lacks other platforms' optional binaries (swc,
  // nx); npm install then installs the same pinned versions from the lock.
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (ci.status !== 0) run('npm', ['install', '--no-audit', '--no-fund'], { cwd: root });
}

/** Makes sure the binaries we need exist: apt-get install as root, otherwise says what to install. */
export function ensureBinaries({ nats, postgres }, log) {
  const missing = [];
  if (nats && findNatsServer() === undefined) missing.push('nats-server');
  if (postgres && findPgBin() === undefined) missing.push('postgresql');
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!isRoot() || !commandExists('apt-get')) {
    throw new StepError(
      `missing ${missing.join(' and ')} (needed for private servers because NATS_URL/DATABASE_URL are unset or unreachable).\n` +
        `Install it, e.g. as root on Debian/Ubuntu: ${command}\n` +
        'or point NATS_URL / DATABASE_URL at running servers.',
    );
  }
  log(`binaries: installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
  const still = [nats && findNatsServer() === undefined ? 'nats-server' : '', postgres && findPgBin() === undefined ? 'postgresql' : ''].filter(Boolean);
  if (still.length > 0) throw new StepError(`apt-get install finished but ${still.join(', ')} is still not found`);
}

export function build(root, log) {
  log('build: npm run build');
  run('npm', ['run', '-s', 'build'], { cwd: root });
}

function commandExists(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
