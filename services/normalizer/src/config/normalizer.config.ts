import { z } from 'zod';

import { COMMON_ENV, DATABASE_ENV, loadConfig, mapCommon, type CommonConfig } from '@lifeline/config';

const schema = z.object({
  ...COMMON_ENV,
  ...DATABASE_ENV,
  /** HMAC key for patient keys (hash of identifier + authority). A secret: never logged. */
  PATIENT_KEY_SECRET: z.string().min(16, 'at least 16 characters').default('lifeline-local-development-only-key'),
});

export interface NormalizerConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  patientKeySecret: string;
}

export function loadNormalizerConfig(env?: Record<string, string | undefined>): NormalizerConfig {
  return loadConfig({
    service: 'normalizer',
    schema,
    env,
    map: (e) => ({ ...mapCommon(e), db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE }, patientKeySecret: e.PATIENT_KEY_SECRET }),
  });
}
