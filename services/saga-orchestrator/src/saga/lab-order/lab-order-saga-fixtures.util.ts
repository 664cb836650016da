import { SUBJECTS } from '@lifeline/contracts';
import type { NotificationKind, Priority } from '@lifeline/contracts';

import type { SagaCommand, SagaInput, SagaOutcomeEvent } from './lab-order.saga.js';

// Test fixtures for the lab-order saga specs: one order, one patient, fixed time. Kept free of
// Jest so that it type-checks and builds like any other source file.

export const NOW = '2025-03-01T10:00:00.000Z';
export const deadlines = { routineResultMs: 4 * 60 * 60_000, statResultMs: 60 * 60_000 };
export const plus = (ms: number): string => new Date(Date.parse(NOW) + ms).toISOString();

const orderId = 'ord-1';
const sagaId = orderId;
const placerOrderNumber = 'PON-1';
const patient = { key: 'pk-0123456789abcdef', identifier: 'MRN-1', assigningAuthority: 'HOSP' };
const tests = [{ code: '2345-7', text: 'Glucose', system: 'LN' }];
const orderingProviderId = 'DR-7';

export const input = {
  placed: (priority: Priority = 'routine'): SagaInput => ({
    type: 'OrderPlaced',
    messageId: 'm-placed',
    data: {
      orderId,
      placerOrderNumber,
      sourceSystem: 'EHR',
      sourceMessageId: 'MSG-1',
      messageType: 'ORM^O01',
      patient,
      tests,
      priority,
      orderingProviderId,
    },
  }),
  cancel: (): SagaInput => ({
    type: 'CancelRequested',
    messageId: 'm-cancel',
    data: { orderId, placerOrderNumber, sourceSystem: 'EHR', sourceMessageId: 'MSG-2', patient, reason: 'CA' },
  }),
  accepted: (commandId: string | undefined): SagaInput => ({
    type: 'LabAccepted',
    messageId: `m-accepted-${commandId ?? 'none'}`,
    data: { orderId, sagaId, commandId, lisOrderId: 'LIS-1' },
  }),
  labRejected: (commandId: string): SagaInput => ({
    type: 'LabRejected',
    messageId: `m-rejected-${commandId}`,
    data: { orderId, sagaId, commandId, reasonCode: 'AR' },
  }),
  result: ({ resultId = 'res-1', resultStatus = 'F', critical = false } = {}): SagaInput => ({
    type: 'ResultRecorded',
    messageId: `m-result-${resultId}-${resultStatus}`,
    data: { orderId, resultId, resultStatus, critical, criticalCodes: critical ? ['2345-7'] : [], observationCount: 1 },
  }),
  delivered: (commandId: string, kind: NotificationKind = 'result-available'): SagaInput => ({
    type: 'NotificationDelivered',
    messageId: `m-delivered-${commandId}`,
    data: { orderId, sagaId, commandId, notificationId: `n-${commandId}`, kind, deliveredAt: NOW },
  }),
  notificationFailed: (commandId: string, kind: NotificationKind = 'result-available', reasonCode = 'EHR_INBOX_UNAVAILABLE'): SagaInput => ({
    type: 'NotificationFailed',
    messageId: `m-notification-failed-${commandId}`,
    data: { orderId, sagaId, commandId, kind, reasonCode },
  }),
  labCancelled: (commandId: string): SagaInput => ({
    type: 'LabCancelled',
    messageId: `m-lab-cancelled-${commandId}`,
    data: { orderId, sagaId, commandId, lisOrderId: 'LIS-1' },
  }),
  labCancelFailed: (commandId: string, reasonCode = 'LIS_REJECTED'): SagaInput => ({
    type: 'LabCancelFailed',
    messageId: `m-lab-cancel-failed-${commandId}`,
    data: { orderId, sagaId, commandId, reasonCode },
  }),
  charged: (commandId: string, chargeId = 'CHG-1'): SagaInput => ({
    type: 'ChargeCreated',
    messageId: `m-charged-${commandId}`,
    data: { orderId, sagaId, commandId, chargeId },
  }),
  voided: (commandId: string, chargeId = 'CHG-1'): SagaInput => ({
    type: 'ChargeVoided',
    messageId: `m-voided-${commandId}`,
    data: { orderId, sagaId, commandId, chargeId },
  }),
  chargeFailed: (commandId: string, operation: 'create' | 'void' = 'create', reasonCode = 'BILLING_REJECTED'): SagaInput => ({
    type: 'ChargeFailed',
    messageId: `m-charge-failed-${commandId}`,
    data: { orderId, sagaId, commandId, operation, reasonCode },
  }),
  deadlineExpired: (): SagaInput => ({
    type: 'DeadlineExpired',
    messageId: 'm-deadline',
    data: { kind: 'result-due', at: NOW },
  }),
};

interface NotifyExpectation {
  commandId: string;
  kind: NotificationKind;
  resultId?: string;
  critical?: boolean;
  priority?: Priority;
}

export const cmd = {
  accept: (commandId: string, priority: Priority = 'routine'): SagaCommand => ({
    subject: SUBJECTS.commands.labAcceptOrder,
    priority,
    data: { sagaId, commandId, orderId, placerOrderNumber, patient, tests, priority },
  }),
  cancel: (commandId: string): SagaCommand => ({
    subject: SUBJECTS.commands.labCancelOrder,
    priority: 'routine',
    data: { sagaId, commandId, orderId, reason: 'CA' },
  }),
  charge: (commandId: string): SagaCommand => ({
    subject: SUBJECTS.commands.billingCreateCharge,
    priority: 'routine',
    data: { sagaId, commandId, orderId, patientKey: patient.key, items: [{ code: '2345-7', quantity: 1 }] },
  }),
  voidCharge: (commandId: string, chargeId = 'CHG-1'): SagaCommand => ({
    subject: SUBJECTS.commands.billingVoidCharge,
    priority: 'routine',
    data: { sagaId, commandId, orderId, chargeId, reason: 'CA' },
  }),
  notify: ({ commandId, kind, resultId, critical = false, priority = 'routine' }: NotifyExpectation): SagaCommand => ({
    subject: SUBJECTS.commands.notifyClinician,
    priority,
    data: { sagaId, commandId, orderId, kind, patient, orderingProviderId, resultId, critical },
  }),
};

export const out = {
  completed: (): SagaOutcomeEvent => ({
    subject: SUBJECTS.clinical.workflowLabOrderCompleted,
    data: { orderId, sagaId, at: NOW },
  }),
  cancelled: (compensated: string[]): SagaOutcomeEvent => ({
    subject: SUBJECTS.clinical.workflowLabOrderCancelled,
    data: { orderId, sagaId, at: NOW, compensated },
  }),
  rejected: (reasonCode: string): SagaOutcomeEvent => ({
    subject: SUBJECTS.clinical.workflowLabOrderRejected,
    data: { orderId, sagaId, at: NOW, reasonCode },
  }),
};
