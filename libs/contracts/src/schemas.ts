import { z } from 'zod';

import { SUBJECTS } from './subjects.js';

/**
 * Canonical payloads of the lab-order flow, version 1. A breaking change gets a new subject
 * (`...v2`) and a new schema beside this one; v1 stays until no producer emits it.
 * Payloads may carry patient identifiers (needed downstream); logs, spans and metrics never do.
 */
const CodedConcept = z.object({
  code: z.string().min(1),
  text: z.string().optional(),
  system: z.string().optional(),
});

const PatientRef = z.object({
  /** Keyed hash of identifier + assigning authority: safe for headers, logs and metrics. */
  key: z.string().min(8),
  identifier: z.string().min(1),
  assigningAuthority: z.string().optional(),
});

const Priority = z.enum(['routine', 'stat']);

export const OrderPlacedV1 = z.object({
  orderId: z.string().min(1),
  placerOrderNumber: z.string().min(1),
  placerNamespace: z.string().optional(),
  fillerOrderNumber: z.string().optional(),
  sourceSystem: z.string().min(1),
  sourceMessageId: z.string().min(1),
  messageType: z.enum(['ORM^O01', 'OML^O21']),
  patient: PatientRef,
  tests: z.array(CodedConcept).min(1),
  priority: Priority,
  orderedAt: z.string().optional(),
  orderingProviderId: z.string().optional(),
});
export type OrderPlacedV1 = z.infer<typeof OrderPlacedV1>;

export const OrderCancelRequestedV1 = z.object({
  orderId: z.string().min(1),
  placerOrderNumber: z.string().min(1),
  sourceSystem: z.string().min(1),
  sourceMessageId: z.string().min(1),
  patient: PatientRef,
  reason: z.string().optional(),
});
export type OrderCancelRequestedV1 = z.infer<typeof OrderCancelRequestedV1>;

export const Observation = z.object({
  setId: z.string().optional(),
  code: CodedConcept,
  valueType: z.string().optional(),
  value: z.string().optional(),
  numericValue: z.number().optional(),
  units: z.string().optional(),
  referenceRange: z.string().optional(),
  abnormalFlags: z.array(z.string()),
  status: z.string().optional(),
  observedAt: z.string().optional(),
});
export type Observation = z.infer<typeof Observation>;

export const ResultReceivedV1 = z.object({
  orderId: z.string().min(1),
  placerOrderNumber: z.string().min(1),
  fillerOrderNumber: z.string().optional(),
  sourceSystem: z.string().min(1),
  sourceMessageId: z.string().min(1),
  patient: PatientRef,
  /** OBR-25: F final, P preliminary, C corrected, ... */
  resultStatus: z.string().min(1),
  observations: z.array(Observation).min(1),
  observedAt: z.string().optional(),
});
export type ResultReceivedV1 = z.infer<typeof ResultReceivedV1>;

const SagaReply = z.object({
  orderId: z.string().min(1),
  /** Saga id of the command this answers (the saga's correlation id). */
  sagaId: z.string().min(1),
  commandId: z.string().optional(),
});

export const LabOrderAcceptedV1 = SagaReply.extend({ lisOrderId: z.string().min(1) });
export type LabOrderAcceptedV1 = z.infer<typeof LabOrderAcceptedV1>;
export const LabOrderRejectedV1 = SagaReply.extend({ reasonCode: z.string().min(1) });
export type LabOrderRejectedV1 = z.infer<typeof LabOrderRejectedV1>;
export const LabOrderCancelledV1 = SagaReply.extend({ lisOrderId: z.string().optional() });
export type LabOrderCancelledV1 = z.infer<typeof LabOrderCancelledV1>;

export const LabResultRecordedV1 = z.object({
  orderId: z.string().min(1),
  resultId: z.string().min(1),
  resultStatus: z.string().min(1),
  critical: z.boolean(),
  /** Codes of the observations that are critical (never values). */
  criticalCodes: z.array(z.string()),
  observationCount: z.number().int().nonnegative(),
});
export type LabResultRecordedV1 = z.infer<typeof LabResultRecordedV1>;

export const NotificationKind = z.enum(['result-available', 'critical-result', 'overdue-result', 'order-rejected', 'order-cancelled']);
export type NotificationKind = z.infer<typeof NotificationKind>;

export const NotificationDeliveredV1 = SagaReply.extend({
  notificationId: z.string().min(1),
  kind: NotificationKind,
  deliveredAt: z.string(),
});
export type NotificationDeliveredV1 = z.infer<typeof NotificationDeliveredV1>;
/** The notice never reached the EHR inbox (refused, or unavailable past the retry budget). */
export const NotificationFailedV1 = SagaReply.extend({
  kind: NotificationKind,
  reasonCode: z.string().min(1),
});
export type NotificationFailedV1 = z.infer<typeof NotificationFailedV1>;

const WorkflowOutcome = z.object({ orderId: z.string().min(1), sagaId: z.string().min(1), at: z.string() });
export const WorkflowLabOrderCompletedV1 = WorkflowOutcome;
export type WorkflowLabOrderCompletedV1 = z.infer<typeof WorkflowLabOrderCompletedV1>;
export const WorkflowLabOrderCancelledV1 = WorkflowOutcome.extend({ compensated: z.array(z.string()) });
export type WorkflowLabOrderCancelledV1 = z.infer<typeof WorkflowLabOrderCancelledV1>;
export const WorkflowLabOrderRejectedV1 = WorkflowOutcome.extend({ reasonCode: z.string() });
export type WorkflowLabOrderRejectedV1 = z.infer<typeof WorkflowLabOrderRejectedV1>;

// Commands: each carries the saga id it answers to and its own command id (the idempotency anchor).
const CommandBase = z.object({ sagaId: z.string().min(1), commandId: z.string().min(1), orderId: z.string().min(1) });

export const LabAcceptOrderV1 = CommandBase.extend({
  placerOrderNumber: z.string().min(1),
  patient: PatientRef,
  tests: z.array(CodedConcept).min(1),
  priority: Priority,
});
export type LabAcceptOrderV1 = z.infer<typeof LabAcceptOrderV1>;

export const LabCancelOrderV1 = CommandBase.extend({ reason: z.string().optional() });
export type LabCancelOrderV1 = z.infer<typeof LabCancelOrderV1>;

export const NotifyClinicianV1 = CommandBase.extend({
  kind: NotificationKind,
  patient: PatientRef,
  orderingProviderId: z.string().optional(),
  resultId: z.string().optional(),
  critical: z.boolean(),
});
export type NotifyClinicianV1 = z.infer<typeof NotifyClinicianV1>;

// Billing: one charge per order, created once the result is final and the clinician was told.
export const BillingCreateChargeV1 = CommandBase.extend({
  /** Keyed hash, for billing's own correlation; never the identifier itself. */
  patientKey: z.string().min(8),
  items: z.array(z.object({ code: z.string().min(1), quantity: z.number().int().min(1) })).min(1),
});
export type BillingCreateChargeV1 = z.infer<typeof BillingCreateChargeV1>;

export const BillingVoidChargeV1 = CommandBase.extend({ chargeId: z.string().min(1), reason: z.string().optional() });
export type BillingVoidChargeV1 = z.infer<typeof BillingVoidChargeV1>;

export const BillingChargeCreatedV1 = SagaReply.extend({ chargeId: z.string().min(1) });
export type BillingChargeCreatedV1 = z.infer<typeof BillingChargeCreatedV1>;
export const BillingChargeVoidedV1 = SagaReply.extend({ chargeId: z.string().min(1) });
export type BillingChargeVoidedV1 = z.infer<typeof BillingChargeVoidedV1>;
/** The billing system refused (422) or stayed unavailable past the retry budget; `operation` says which call. */
export const BillingChargeFailedV1 = SagaReply.extend({
  operation: z.enum(['create', 'void']),
  reasonCode: z.string().min(1),
  chargeId: z.string().optional(),
});
export type BillingChargeFailedV1 = z.infer<typeof BillingChargeFailedV1>;

/** The LIS refused the cancel or stayed unavailable past the retry budget: a failed compensation. */
export const LabCancelFailedV1 = SagaReply.extend({ reasonCode: z.string().min(1) });
export type LabCancelFailedV1 = z.infer<typeof LabCancelFailedV1>;

/** Raw HL7 v2 transport record on INGEST: the body is the message bytes, these are its headers. */
export const IngestHl7v2Meta = z.object({
  sendingApplication: z.string(),
  sendingFacility: z.string(),
  controlId: z.string().min(1),
  messageType: z.string(),
  receivedAt: z.string(),
  /** sha256 of the message as received (hex). */
  sha256: z.string().length(64),
  remoteAddress: z.string().optional(),
});
export type IngestHl7v2Meta = z.infer<typeof IngestHl7v2Meta>;

/** Payload schema per CloudEvents type (= unprefixed subject). */
export const SCHEMAS = {
  [SUBJECTS.clinical.orderPlaced]: OrderPlacedV1,
  [SUBJECTS.clinical.orderCancelRequested]: OrderCancelRequestedV1,
  [SUBJECTS.clinical.resultReceived]: ResultReceivedV1,
  [SUBJECTS.clinical.labOrderAccepted]: LabOrderAcceptedV1,
  [SUBJECTS.clinical.labOrderRejected]: LabOrderRejectedV1,
  [SUBJECTS.clinical.labOrderCancelled]: LabOrderCancelledV1,
  [SUBJECTS.clinical.labResultRecorded]: LabResultRecordedV1,
  [SUBJECTS.clinical.notificationDelivered]: NotificationDeliveredV1,
  [SUBJECTS.clinical.notificationFailed]: NotificationFailedV1,
  [SUBJECTS.clinical.workflowLabOrderCompleted]: WorkflowLabOrderCompletedV1,
  [SUBJECTS.clinical.workflowLabOrderCancelled]: WorkflowLabOrderCancelledV1,
  [SUBJECTS.clinical.workflowLabOrderRejected]: WorkflowLabOrderRejectedV1,
  [SUBJECTS.commands.labAcceptOrder]: LabAcceptOrderV1,
  [SUBJECTS.commands.labCancelOrder]: LabCancelOrderV1,
  [SUBJECTS.commands.notifyClinician]: NotifyClinicianV1,
  [SUBJECTS.commands.billingCreateCharge]: BillingCreateChargeV1,
  [SUBJECTS.commands.billingVoidCharge]: BillingVoidChargeV1,
  [SUBJECTS.clinical.billingChargeCreated]: BillingChargeCreatedV1,
  [SUBJECTS.clinical.billingChargeVoided]: BillingChargeVoidedV1,
  [SUBJECTS.clinical.billingChargeFailed]: BillingChargeFailedV1,
  [SUBJECTS.clinical.labCancelFailed]: LabCancelFailedV1,
} as const;

export type SchemaType = keyof typeof SCHEMAS;
export type PayloadOf<T extends SchemaType> = z.infer<(typeof SCHEMAS)[T]>;

export function isKnownType(type: string): type is SchemaType {
  return Object.prototype.hasOwnProperty.call(SCHEMAS, type);
}

export interface PayloadIssue {
  path: string;
  message: string;
}

/** Validates a payload against its type's schema. Issues name paths only, never values (PHI). */
export function validatePayload<T extends SchemaType>(
  type: T,
  data: unknown,
): { ok: true; value: PayloadOf<T> } | { ok: false; issues: PayloadIssue[] } {
  const result = SCHEMAS[type].safeParse(data);
  if (result.success) return { ok: true, value: result.data as PayloadOf<T> };
  return {
    ok: false,
    issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.code })),
  };
}
