#!/usr/bin/env node
// Provisions the JetStream topology (streams, consumers, KV buckets from @lifeline/contracts) for one
// prefix by calling provisionTopologyAt({ natsUrl, prefix }) from the built @lifeline/messaging. Idempotent.
// Usage: NATS_URL=nats://127.0.0.1:4222 NATS_PREFIX= node tools/mesh/provision.mjs [--nats-url U] [--prefix P]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../..', import.meta.url).pathname;

function option(name) {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

async function loadMessaging() {
  try {
    return await import('@lifeline/messaging');
  } catch (err) {
    // the workspace link appears only after `npm install`; the built entry point works without it
    if (err.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('@lifeline/messaging')) throw err;
    const dist = join(root, 'libs', 'messaging', 'dist', 'index.js');
    if (!existsSync(dist)) throw new Error('libs/messaging is not built (libs/messaging/dist/index.js missing): run npm run build');
    return import(pathToFileURL(dist).href);
  }
}

const natsUrl = option('--nats-url') ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = option('--prefix') ?? process.env.NATS_PREFIX ?? '';
try {
  const messaging = await loadMessaging();
  // provisionTopologyAt connects by URL; provisionTopology({ natsUrl, prefix }) was the first contract
  const provision = typeof messaging.provisionTopologyAt === 'function' ? messaging.provisionTopologyAt : messaging.provisionTopology;
  if (typeof provision !== 'function') {
    throw new Error('@lifeline/messaging exports neither provisionTopologyAt nor provisionTopology({ natsUrl, prefix })');
  }
  const result = await provision({ natsUrl, prefix });
  const detail = result === undefined ? '' : `: ${JSON.stringify(result)}`;
  console.log(`provisioned JetStream topology on ${natsUrl}${prefix === '' ? '' : ` with prefix ${prefix}`}${detail}`);
  // exit explicitly: a connection provisionTopology left open must not keep `./mesh up` waiting
  process.exit(0);
} catch (err) {
  console.error(`provisioning failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
}
