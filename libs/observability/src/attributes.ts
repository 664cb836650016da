/**
 * Span and metric attribute names: one object, so no code spells them twice. `messaging.*` follow the
 * OTel messaging semantic conventions; our own live under `lifeline.*`. Values are ids and hashes only.
 */
export const ATTR = {
  messagingSystem: 'messaging.system',
  messagingSystemName: 'messaging.system.name',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingDestinationName: 'messaging.destination.name',
  messagingDestinationTemplate: 'messaging.destination.template',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingMessageId: 'messaging.message.id',
  messagingBatchMessageCount: 'messaging.batch.message_count',
  natsStream: 'messaging.nats.stream',
  natsSequence: 'messaging.nats.stream_sequence',
  natsDeliveryCount: 'messaging.nats.delivery_count',
  eventType: 'lifeline.event.type',
  correlationId: 'lifeline.correlation_id',
  idempotencyKeyHash: 'lifeline.idempotency_key.hash',
  patientKey: 'lifeline.patient.key',
  outcome: 'lifeline.outcome',
  errorCode: 'lifeline.error.code',
  duplicate: 'lifeline.duplicate',
  outboxId: 'lifeline.outbox.id',
  outboxFailed: 'lifeline.outbox.failed',
  sagaId: 'lifeline.saga.id',
  sagaStatus: 'lifeline.saga.status',
  orderId: 'lifeline.order.id',
  hl7MessageType: 'lifeline.hl7.message_type',
  hl7ControlId: 'lifeline.hl7.control_id',
  hl7AckCode: 'lifeline.hl7.ack_code',
  hl7Sha256: 'lifeline.hl7.sha256',
  httpTarget: 'lifeline.downstream.target',
} as const;

export const MESSAGING_SYSTEM = 'nats';
