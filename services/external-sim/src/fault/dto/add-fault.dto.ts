import { z } from 'zod';

import { TARGETS } from '../../exchange/exchange.dto.js';

export const FAULT_MODES = [
  'fail',
  'slow',
  'timeout',
  'throttle',
  'reject',
] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

// Upper bounds keep a typo from parking a test for hours; `timeout` has no bound by design.
const MAX_DELAY_MS = 120_000;
const MAX_DURATION_MS = 3_600_000;

export const AddFaultDto = z
  .strictObject({
    target: z.enum(TARGETS),
    mode: z.enum(FAULT_MODES),
    status: z.number().int().min(400).max(599).optional(),
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
    retryAfterSeconds: z.number().int().min(0).max(86_400).optional(),
    count: z.number().int().min(1).optional(),
    untilMs: z.number().int().min(1).max(MAX_DURATION_MS).optional(),
    // Narrows the fault to requests whose path starts with this, e.g. `/lis/orders/` for cancels.
    pathPrefix: z.string().startsWith('/').optional(),
  })
  .refine((f) => f.mode !== 'slow' || f.delayMs !== undefined, {
    message: 'delayMs is required for mode slow',
    path: ['delayMs'],
  })
  .refine((f) => f.status === undefined || f.mode === 'fail', {
    message: 'status applies to mode fail only',
    path: ['status'],
  });
export type AddFaultDto = z.infer<typeof AddFaultDto>;
