import { z } from 'zod';

import { loadConfig } from './load-config.js';

const schema = z.object({
  OUTBOX_RELAY_SPANS: z.enum(['batch', 'message']).default('batch'),
});

/**
 * How the outbox relay shows in traces (libs/outbox OutboxRelay `spans`): `batch` (default) is one
 * `send outbox` span per relay batch linking the messages, each message carrying its writer's trace
 * context; `message` adds a `send` span per message inside the clinical trace (costs a span per message:
 * bench/README.md, tracing).
 */
export function outboxRelayEnv(service: string, env: Readonly<Record<string, string | undefined>> = process.env): { spans: 'batch' | 'message' } {
  return loadConfig({
    service,
    schema,
    env: { OUTBOX_RELAY_SPANS: env.OUTBOX_RELAY_SPANS || undefined },
    map: (e) => ({ spans: e.OUTBOX_RELAY_SPANS }),
  });
}
