import { z } from 'zod';

import { TARGETS } from '../../exchange/exchange.dto.js';

export const RequestsQueryDto = z.object({
  target: z.enum(TARGETS).optional(),
  path: z.string().optional(),
  pathPrefix: z.string().optional(),
});
export type RequestsQueryDto = z.infer<typeof RequestsQueryDto>;

export const TargetParamDto = z.enum(TARGETS);
