import { z } from 'zod';

// Provisional shape until the billing issue defines the adapter contract; unknown fields pass.
export const CreateChargeDto = z.looseObject({
  orderId: z.string().min(1),
  items: z
    .array(
      z.looseObject({
        code: z.string().min(1),
        quantity: z.number().int().min(1).default(1),
      }),
    )
    .min(1),
});
export type CreateChargeDto = z.infer<typeof CreateChargeDto>;

export interface Charge {
  chargeId: string;
  orderId: string;
  status: 'posted' | 'voided';
  postedAt: string;
  voidedAt: string | null;
}
