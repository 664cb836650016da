import { z } from 'zod';

import { COMMON_ENV, csv, loadConfig, mapCommon } from '@lifeline/config';
import type { CommonConfig } from '@lifeline/config';

export const EXTERNAL_SIM_CONFIG = Symbol.for('lifeline.external-sim.config');

const SCHEMA = z.object({
  ...COMMON_ENV,
  // Test codes the simulated LIS always refuses with 422, so flows can exercise rejection
  // without a fault: the deterministic counterpart of the `reject` fault mode.
  SIM_LIS_REJECT_TEST_CODES: z.string().default('REJECT'),
  // Bounds memory on long local runs; counters in /_sim/stats are kept past the cap.
  SIM_MAX_RECORDED_REQUESTS: z.coerce
    .number()
    .int()
    .min(100)
    .max(1_000_000)
    .default(50_000),
});

export interface ExternalSimConfig extends CommonConfig {
  lis: { rejectTestCodes: string[] };
  recording: { maxRequests: number };
}

export function loadExternalSimConfig(
  env?: Record<string, string | undefined>,
): ExternalSimConfig {
  return loadConfig({
    service: 'external-sim',
    schema: SCHEMA,
    env,
    map: (e) => ({
      ...mapCommon(e),
      lis: { rejectTestCodes: csv(e.SIM_LIS_REJECT_TEST_CODES) },
      recording: { maxRequests: e.SIM_MAX_RECORDED_REQUESTS },
    }),
  });
}
