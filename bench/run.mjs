#!/usr/bin/env node
// Lifeline benchmarks: `npm run bench` (full, ~5 min) or `npm run bench -- --quick` (smoke-sized).
//   --quick        smoke-sized loops (seconds)
//   --no-mesh      skip the stages that start services (MLLP, flow, STAT)
//   --out <file>   result file (default bench/results/latest.json)
//   --production-limits  keep the services' EHR/LIS rate limits (default: lifted, see README)
// NATS_URL / DATABASE_URL (admin: may CREATE DATABASE) default to the local servers. Loopback only.
import { join } from 'node:path';

import { ROOT, formatTable, runBench } from './lib/bench.mjs';

const args = process.argv.slice(2);
const flag = (f) => args.includes(f);
const value = (f) => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
if (flag('--help') || flag('-h')) {
  console.log('usage: node bench/run.mjs [--quick] [--no-mesh] [--out file]');
  process.exit(0);
}
const out = value('--out') ?? join(ROOT, 'bench', 'results', 'latest.json');
const hardStop = setTimeout(() => {
  console.error('bench: hard time limit reached (15 min), giving up');
  process.exit(3);
}, 15 * 60_000);
hardStop.unref();
try {
  const result = await runBench({ quick: flag('--quick'), mesh: !flag('--no-mesh'), productionLimits: flag('--production-limits'), out });
  console.log(formatTable(result));
  console.log(`\nwritten: ${out}`);
  process.exit(0);
} catch (err) {
  console.error('bench failed:', err);
  process.exit(1);
}
