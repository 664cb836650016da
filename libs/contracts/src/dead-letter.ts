import { z } from 'zod';

/** What a dead letter keeps (ARCHITECTURE.md "Dead letters"). No PHI outside `payload`. */
export const DeadLetterV1 = z.object({
  originalSubject: z.string(),
  originalStream: z.string(),
  originalSequence: z.number().int().nonnegative(),
  headers: z.record(z.string(), z.string()),
  /** The original body, base64, byte for byte. */
  payloadBase64: z.string(),
  error: z.object({
    class: z.enum(['transient', 'permanent', 'unknown']),
    code: z.string(),
    message: z.string(),
    /** Finer error kind (libs/errors ERROR_KINDS) and why it was dead-lettered; absent on older letters. */
    kind: z.string().optional(),
    reason: z.enum(['permanent', 'attempts-exhausted', 'escalate', 'max-deliveries']).optional(),
  }),
  /** Every failed attempt with its time (kept across restarts in the ATTEMPTS KV bucket). */
  attempts: z.array(
    z.object({
      at: z.string(),
      deliveryCount: z.number().int(),
      kind: z.string().optional(),
      code: z.string().optional(),
      delayMs: z.number().int().optional(),
    }),
  ),
  consumer: z.string(),
  service: z.string(),
  serviceVersion: z.string(),
  traceId: z.string().optional(),
  patientKey: z.string().optional(),
  messageId: z.string().optional(),
  idempotencyKey: z.string().optional(),
  deadLetteredAt: z.string(),
});
export type DeadLetterV1 = z.infer<typeof DeadLetterV1>;
