import { Inject, Injectable } from '@nestjs/common';
import { postJson } from '@lifeline/messaging';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
} from '@opentelemetry/semantic-conventions';
import { Counter } from 'prom-client';

import type { NotificationKind } from '@lifeline/contracts';
import {
  ATTR,
  SpanKind,
  inSpan,
  injectTraceContext,
  registry,
} from '@lifeline/observability';
import type { DownstreamGuard } from '@lifeline/messaging';

import { ehrError } from './ehr.errors.js';
import { deliverMessageOutcome } from './ehr-response.util.js';

export const EHR_CLIENT_OPTIONS = Symbol('EHR_CLIENT_OPTIONS');

export interface EhrClientOptions {
  /** e.g. http://127.0.0.1:3100/ehr, without a trailing slash. */
  baseUrl: string;
  timeoutMs: number;
  /**
   * Breaker, rate limit and concurrency cap for the EHR inbox; absent = unguarded. A refusal throws
   * a retryable DOWNSTREAM_CIRCUIT_OPEN / DOWNSTREAM_RATE_LIMITED that does not spend attempts.
   */
  guard?: DownstreamGuard;
}

export interface EhrInboxMessage {
  /** The notify command id: stable across redeliveries, so a retry is a replay, not a second message. */
  notificationId: string;
  kind: NotificationKind;
  orderId: string;
  /** Keyed hash, never the patient identifier. */
  patientKey: string;
  critical: boolean;
}

const requests = new Counter({
  name: 'notifications_ehr_requests_total',
  help: 'HTTP calls to the EHR inbox, by outcome',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/**
 * HTTP adapter for the EHR inbox. The Idempotency-Key is the notification id: a retry after a timeout
 * or a crash gets the EHR's first answer back instead of a second message to the clinician. Errors
 * are AppErrors: EHR_INBOX_UNAVAILABLE is retryable, everything else is final.
 */
@Injectable()
export class EhrClient {
  constructor(
    @Inject(EHR_CLIENT_OPTIONS) private readonly options: EhrClientOptions,
  ) {}

  deliverMessage(message: EhrInboxMessage): Promise<{ messageId: string }> {
    const { guard } = this.options;
    return guard
      ? guard.run(() => this.deliverOnce(message))
      : this.deliverOnce(message);
  }

  private async deliverOnce(
    message: EhrInboxMessage,
  ): Promise<{ messageId: string }> {
    const { notificationId, kind, orderId, patientKey, critical } = message;
    // Built field by field: the body must be identical on every retry (the EHR compares it per key).
    const body = { notificationId, kind, orderId, patientKey, critical };
    const attributes = {
      [ATTR.httpTarget]: 'ehr',
      [ATTR.orderId]: orderId,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    };
    const exchange = await inSpan(
      { name: 'POST ehr.inbox.messages', kind: SpanKind.CLIENT, attributes },
      async (span) => {
        // Inside the client span, so the EHR's own spans hang below this call.
        const headers = injectTraceContext({
          'content-type': 'application/json',
          accept: 'application/json',
          'idempotency-key': notificationId,
        });
        const result = await postJson({
          url: `${this.options.baseUrl}/inbox/messages`,
          headers,
          body,
          timeoutMs: this.options.timeoutMs,
        });
        if (result.kind === 'response')
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, result.status);
        span.setAttribute(
          ATTR.outcome,
          result.kind === 'response' ? String(result.status) : result.kind,
        );
        return result;
      },
    );
    const outcome = deliverMessageOutcome(exchange);
    requests
      .labels(outcome.kind === 'failed' ? outcome.code : outcome.kind)
      .inc();
    if (outcome.kind === 'failed')
      throw ehrError(outcome.code, {
        orderId,
        notificationId,
        httpStatus: outcome.status ?? null,
      });
    return { messageId: outcome.messageId };
  }
}
