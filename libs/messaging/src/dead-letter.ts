import type { JsMsg } from '@nats-io/jetstream';

import { HEADERS, SUBJECTS, type DeadLetterV1 } from '@lifeline/contracts';

import type { ErrorClass } from './retry-policy.js';
import { headersToRecord } from './header-codec.js';

export interface AttemptRecord {
  at: string;
  deliveryCount: number;
}

/** Builds the dead-letter record: everything an operator needs to triage and replay, no PHI outside the payload. */
export function buildDeadLetter(params: {
  msg: JsMsg;
  unprefixedSubject: string;
  error: { errorClass: ErrorClass; code: string; message: string };
  attempts: AttemptRecord[];
  consumer: string;
  service: string;
  serviceVersion: string;
  traceId?: string;
  now: Date;
}): DeadLetterV1 {
  const headers = headersToRecord(params.msg.headers);
  return {
    originalSubject: params.unprefixedSubject,
    originalStream: params.msg.info.stream,
    originalSequence: params.msg.info.streamSequence,
    headers,
    payloadBase64: Buffer.from(params.msg.data).toString('base64'),
    error: { class: params.error.errorClass, code: params.error.code, message: params.error.message },
    attempts: params.attempts,
    consumer: params.consumer,
    service: params.service,
    serviceVersion: params.serviceVersion,
    traceId: params.traceId,
    patientKey: headers[HEADERS.patientKey] || undefined,
    messageId: headers[HEADERS.id] || headers[HEADERS.msgId] || undefined,
    idempotencyKey: headers[HEADERS.idempotencyKey] || undefined,
    deadLetteredAt: params.now.toISOString(),
  };
}

export function deadLetterSubject(service: string, consumer: string): string {
  return SUBJECTS.dlq(service, consumer);
}

/** One dead letter per original stream position: a republish after a crash is deduplicated. */
export function deadLetterMsgId(stream: string, sequence: number): string {
  return `dlq:${stream}:${sequence}`;
}
