import { z } from 'zod';

export const PlaceOrderDto = z.object({
  orderId: z.string().min(1),
  placerOrderNumber: z.string().min(1),
  tests: z
    .array(
      z.object({
        code: z.string().min(1),
        text: z.string().optional(),
        system: z.string().optional(),
      }),
    )
    .min(1),
  // FHIR request priorities: a superset of ours, as a real LIS would accept.
  priority: z.enum(['routine', 'urgent', 'asap', 'stat']),
});
export type PlaceOrderDto = z.infer<typeof PlaceOrderDto>;

export interface LisOrder {
  lisOrderId: string;
  orderId: string;
  placerOrderNumber: string;
  tests: { code: string }[];
  priority: PlaceOrderDto['priority'];
  status: 'accepted' | 'cancelled';
  acceptedAt: string;
  cancelledAt: string | null;
}
