import { z } from 'zod';

import { loadConfig } from './load-config.js';

const schema = z.object({
  CONSUMER_LEASES: z.enum(['on', 'off']).default('off'),
  // above the default consumer ack wait (30 s): see libs/messaging ConsumerLeases
  CONSUMER_LEASE_TTL_MS: z.coerce.number().int().min(1_000).max(600_000).default(35_000),
});

/**
 * One active process per consumer (libs/messaging ConsumerLeases): `CONSUMER_LEASES=on` for more than
 * one replica of a service, or for per-patient order across a crash; `CONSUMER_LEASE_TTL_MS` is how long
 * a crashed holder blocks its consumers (must exceed their ack wait, checked at boot).
 */
export function consumerLeasesEnv(service: string, env: Readonly<Record<string, string | undefined>> = process.env): { enabled: boolean; ttlMs: number } {
  return loadConfig({
    service,
    schema,
    env: { CONSUMER_LEASES: env.CONSUMER_LEASES || undefined, CONSUMER_LEASE_TTL_MS: env.CONSUMER_LEASE_TTL_MS || undefined },
    map: (e) => ({ enabled: e.CONSUMER_LEASES === 'on', ttlMs: e.CONSUMER_LEASE_TTL_MS }),
  });
}
