/**
 * Every NATS subject of Lifeline, unprefixed. Lower-dot and versioned; the CloudEvents `type` of a
 * message is its unprefixed subject. Tests and parallel runs add a prefix through `Naming`.
 */
export const SUBJECTS = {
  ingest: {
    hl7v2: 'ingest.hl7v2.v1',
  },
  clinical: {
    orderPlaced: 'clinical.order.placed.v1',
    orderCancelRequested: 'clinical.order.cancel-requested.v1',
    resultReceived: 'clinical.result.received.v1',
    labOrderAccepted: 'clinical.lab.order-accepted.v1',
    labOrderRejected: 'clinical.lab.order-rejected.v1',
    labOrderCancelled: 'clinical.lab.order-cancelled.v1',
    labResultRecorded: 'clinical.lab.result-recorded.v1',
    notificationDelivered: 'clinical.notification.delivered.v1',
    /** The EHR inbox refused the notice or stayed unavailable past the retry budget: a human must act. */
    notificationFailed: 'clinical.notification.failed.v1',
    workflowLabOrderCompleted: 'clinical.workflow.lab-order-completed.v1',
    workflowLabOrderCancelled: 'clinical.workflow.lab-order-cancelled.v1',
    workflowLabOrderRejected: 'clinical.workflow.lab-order-rejected.v1',
    labCancelFailed: 'clinical.lab.cancel-failed.v1',
    billingChargeCreated: 'clinical.billing.charge-created.v1',
    billingChargeVoided: 'clinical.billing.charge-voided.v1',
    /** A permanent refusal by the billing system: the saga moves on instead of waiting. */
    billingChargeFailed: 'clinical.billing.charge-failed.v1',
  },
  commands: {
    labAcceptOrder: 'cmd.lab.accept-order.v1',
    labCancelOrder: 'cmd.lab.cancel-order.v1',
    notifyClinician: 'cmd.notify.clinician.v1',
    billingCreateCharge: 'cmd.billing.create-charge.v1',
    billingVoidCharge: 'cmd.billing.void-charge.v1',
  },
  /** Dead letters: `dlq.<service>.<consumer>`. */
  dlq: (service: string, consumer: string): string => `dlq.${service}.${consumer}`,
} as const;

type Leaves<T> = T extends string ? T : T extends (...args: never[]) => unknown ? never : { [K in keyof T]: Leaves<T[K]> }[keyof T];

/** Any concrete (non-DLQ) subject. */
export type Subject = Leaves<typeof SUBJECTS>;
