import type { NatsConnection } from '@nats-io/transport-node';

import type { JetStreamServer } from './jetstream.server.js';

export interface JetStreamHealth {
  status: 'up' | 'down';
  connected: boolean;
  consuming: boolean | 'n/a';
  rttMs?: number;
  inFlight?: number;
}

/**
 * Readiness of the NATS side: the connection answers a ping and, when the service consumes, every
 * consumer loop is pulling. Terminus-agnostic so any health controller can use it.
 */
export async function checkJetStream(nc: NatsConnection, consumer?: JetStreamServer): Promise<JetStreamHealth> {
  const server = consumer && consumer.consumerCount() > 0 ? consumer : undefined;
  if (nc.isClosed()) return { status: 'down', connected: false, consuming: server ? false : 'n/a' };
  let rttMs: number | undefined;
  try {
    rttMs = await Promise.race([
      nc.rtt(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('rtt timeout')), 2_000)),
    ]);
  } catch {
    return { status: 'down', connected: false, consuming: server ? server.isConsuming() : 'n/a' };
  }
  const consuming = server ? server.isConsuming() : 'n/a';
  return { status: consuming === false ? 'down' : 'up', connected: true, consuming, rttMs, inFlight: server?.inFlightCount() };
}
