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
  /** Off only as the negative control of R17: resends then rely on the INGEST 2-min dedup window alone. */
  MLLP_DUPLICATE_DETECTION: z.stringbool().default(true),
  /** How long (sending facility, MSH-10) → ACK is remembered: at least the partners' retry horizon. */
  MLLP_DUPLICATE_HORIZON_MS: z.coerce.number().int().min(60_000).max(90 * 86_400_000).default(7 * 86_400_000),
});

export interface IngestGatewayConfig extends CommonConfig {
  mllp: {
    host: string;
    port: number;
    maxFrameBytes: number;
    idleTimeoutMs: number;
    duplicates: { enabled: boolean; horizonMs: number };
  };
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
      mllp: {
        host: e.MLLP_HOST,
        port: e.MLLP_PORT,
        maxFrameBytes: e.MLLP_MAX_FRAME_BYTES,
        idleTimeoutMs: e.MLLP_IDLE_TIMEOUT_MS,
        duplicates: { enabled: e.MLLP_DUPLICATE_DETECTION, horizonMs: e.MLLP_DUPLICATE_HORIZON_MS },
      },
      publishTimeoutMs: e.PUBLISH_TIMEOUT_MS,
    }),
  });
}
