import { z } from 'zod';

import { COMMON_ENV, loadConfig, mapCommon, type CommonConfig } from '@lifeline/config';

const schema = z.object({
  ...COMMON_ENV,
  MLLP_HOST: z.string().default('127.0.0.1'),
  MLLP_PORT: z.coerce.number().int().min(0).max(65535).default(2575),
  /** Matches the JetStream max payload (1 MiB); larger documents need a claim-check. */
  MLLP_MAX_FRAME_BYTES: z.coerce.number().int().min(1_024).max(1_048_576).default(1_048_576),
  MLLP_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** How long to wait for the INGEST PubAck before answering AE/CE. */
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
});

export interface IngestGatewayConfig extends CommonConfig {
  mllp: { host: string; port: number; maxFrameBytes: number; idleTimeoutMs: number };
  publishTimeoutMs: number;
}

export const INGEST_GATEWAY_CONFIG = Symbol('INGEST_GATEWAY_CONFIG');

export function loadIngestGatewayConfig(env?: Record<string, string | undefined>): IngestGatewayConfig {
  return loadConfig({
    service: 'ingest-gateway',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      mllp: { host: e.MLLP_HOST, port: e.MLLP_PORT, maxFrameBytes: e.MLLP_MAX_FRAME_BYTES, idleTimeoutMs: e.MLLP_IDLE_TIMEOUT_MS },
      publishTimeoutMs: e.PUBLISH_TIMEOUT_MS,
    }),
  });
}
