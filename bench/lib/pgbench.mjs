// B_pg with pgbench (C client, prepared statements): the hop's SQL, for comparison with the Node loop.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

export async function hasPgbench() {
  try {
    await run('pgbench', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** Runs the hop transaction for `seconds` at `concurrency` clients; returns tps (without connection time). */
export async function pgbenchHop(dbUrl, { concurrency, seconds, payload }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-pgbench-'));
  const data = JSON.stringify({ n: 1, hl7: payload }).replace(/'/g, "''");
  const script = [
    '\\set r random(1, 9000000000000000000)',
    'BEGIN;',
    "INSERT INTO inbox (consumer, message_id) VALUES ('pgbench', 'm-' || :client_id || '-' || :r) ON CONFLICT DO NOTHING RETURNING 1 AS claimed;",
    "SELECT stream_id, version, global_position, type, data, metadata, recorded_at FROM events WHERE stream_id = 's-' || :client_id || '-' || :r ORDER BY version;",
    `INSERT INTO events (stream_id, version, type, data, metadata) VALUES ('s-' || :client_id || '-' || :r, 1, 'BenchEventRecorded', '${data}'::jsonb, '{"messageId":"m"}'::jsonb);`,
    `INSERT INTO outbox (id, aggregate_id, subject, headers, payload, expect_stream) VALUES (gen_random_uuid(), 's-' || :client_id || '-' || :r, 'clinical.bench.out.v1', '{"ce-type":"clinical.bench.out.v1"}', '${data}'::jsonb, 'CLINICAL');`,
    'COMMIT;',
  ].join('\n');
  const file = join(dir, 'hop.sql');
  writeFileSync(file, `${script}\n`);
  try {
    const u = new URL(dbUrl);
    const out = await run(
      'pgbench',
      ['-n', '-M', 'prepared', '-c', String(concurrency), '-j', String(Math.min(concurrency, 2)), '-T', String(seconds), '-f', file, '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), u.pathname.slice(1)],
      u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {},
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
    return { concurrency, seconds, perSecond: tps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
