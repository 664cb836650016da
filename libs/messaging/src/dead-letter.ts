import type { JsMsg } from '@nats-io/jetstream';

import { HEADERS, SUBJECTS, type DeadLetterV1 } from '@lifeline/contracts';

import type { ErrorKind } from '@lifeline/errors';

import type { AttemptRecord, DeadLetterReason, ErrorClass } from './retry-policy.js';
import { headersToRecord } from './header-codec.js';

export type { AttemptRecord } from './retry-policy.js';

/** What a dead letter is built from: a delivered JsMsg, or a stored message fetched by sequence. */
export interface DeadLetterSource {
  headers?: JsMsg['headers'];
  data: Uint8Array;
  info: { stream: string; streamSequence: number };
}

/** Builds the dead-letter record: everything an operator needs to triage and replay, no PHI outside the payload. */
export function buildDeadLetter(params: {
  msg: DeadLetterSource;
  unprefixedSubject: string;
  error: { errorClass: ErrorClass; code: string; message: string; kind?: ErrorKind; reason?: DeadLetterReason };
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
    error: {
      class: params.error.errorClass,
      code: params.error.code,
      message: params.error.message,
      ...(params.error.kind ? { kind: params.error.kind } : {}),
      ...(params.error.reason ? { reason: params.error.reason } : {}),
    },
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
