// CPU accounting from /proc (Linux): where the flow's CPU goes, per process group, per clinical event.
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ: 100 on every Linux we run on (getconf CLK_TCK)

function procTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may hold spaces) start after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

function machineTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { total: cpu.reduce((a, b) => a + b, 0), idle };
}

/**
 * A snapshot of CPU ticks: the mesh's services by name, every nats-server and postgres process (the
 * backends of all pools), this process (the load generator) and the machine as a whole.
 */
export function cpuSnapshot(services) {
  const groups = {};
  const add = (group, t) => {
    if (t) groups[group] = (groups[group] ?? 0) + t.ticks;
  };
  for (const [name, info] of Object.entries(services)) add(name, procTicks(info.pid));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const t = procTicks(entry);
    if (t?.comm === 'nats-server') add('nats-server', t);
    else if (t?.comm === 'postgres') add('postgres', t);
  }
  add('bench (load generator)', procTicks(process.pid));
  return { groups, machine: machineTicks() };
}

/** CPU-ms per event by group between two snapshots, and the machine's busy share in that window. */
export function cpuPerEvent(before, after, events) {
  const perEventMs = {};
  let sum = 0;
  for (const [g, t] of Object.entries(after.groups)) {
    const ms = ((t - (before.groups[g] ?? 0)) * 1000) / TICKS_PER_S;
    sum += ms;
    perEventMs[g] = Math.round((ms / events) * 100) / 100;
  }
  const total = after.machine.total - before.machine.total;
  const busy = total - (after.machine.idle - before.machine.idle);
  return { perEventMs, totalPerEventMs: Math.round((sum / events) * 100) / 100, machineBusy: total > 0 ? Math.round((busy / total) * 1000) / 1000 : null };
}

/**
 * Runs `run()` between two snapshots and sets `cpu` on its result: CPU-ms per event by group, with
 * `events(result)` the number of events it handled.
 */
export async function withCpu(services, run, events) {
  const before = cpuSnapshot(services);
  const result = await run();
  result.cpu = cpuPerEvent(before, cpuSnapshot(services), events(result) || 1);
  return result;
}
