import { z } from 'zod';

export const DeliverMessageDto = z.object({
  notificationId: z.string().min(1),
  kind: z.string().min(1),
  orderId: z.string().min(1),
  patientKey: z.string().min(1),
  critical: z.boolean(),
});
export type DeliverMessageDto = z.infer<typeof DeliverMessageDto>;
