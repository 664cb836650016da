import { Inject, Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';

import { causedBy, type Envelope } from '@lifeline/contracts';
import { AppError, isAppError } from '@lifeline/errors';
import { parseHl7, type Hl7Message } from '@lifeline/hl7';
import { registry } from '@lifeline/observability';
import { TransactionBatcher, addToOutbox, claimInbox, runInTransaction } from '@lifeline/outbox';

import { NORMALIZER_CONFIG, type NormalizerConfig } from '../config/normalizer-config.token.js';
import { refusalToAppError } from '../mapping/hl7-mapping.errors.js';
import { mapHl7Message } from '../mapping/hl7-message.mapper.js';
import { NormalizeRepository, type TransportRecord } from './normalize.repository.js';

export type NormalizeErrorCode = 'HL7_UNPARSEABLE';

const MAPPED_TYPES: ReadonlySet<string> = new Set(['ORM^O01', 'OML^O21', 'ORU^R01']);

const outcomes = new Counter({
  name: 'normalizer_messages_total',
  help: 'Raw HL7 messages normalized, by outcome and message type',
  labelNames: ['outcome', 'message_type'] as const,
  registers: [registry],
});

export interface RawMessage {
  envelope: Envelope<Buffer>;
  consumer: string;
  sequence: number;
  meta: Pick<TransportRecord, 'sendingApplication' | 'sendingFacility' | 'controlId' | 'messageType' | 'sha256'>;
}

/**
 * Raw HL7 v2 → canonical events. Mapped: transport record, parsed form, outcome, inbox row and the
 * events (outbox) commit together. Refused: the record and its outcome are committed, then the error
 * is thrown so the transport dead-letters the message: stored and visible, never silently dropped.
 */
@Injectable()
export class NormalizeService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: NormalizeRepository,
    @Inject(NORMALIZER_CONFIG) private readonly config: NormalizerConfig,
    private readonly batcher: TransactionBatcher,
  ) {}

  async normalize(input: RawMessage): Promise<{ events: number; duplicate: boolean }> {
    const { envelope } = input;
    const raw = envelope.data.toString('utf8');
    const transport: TransportRecord = {
      idempotencyKey: envelope.idempotencyKey,
      ingestMessageId: envelope.id,
      ingestSequence: input.sequence,
      raw,
      receivedAt: envelope.time,
      ...input.meta,
    };
    let message: Hl7Message;
    try {
      message = parseHl7(raw);
    } catch (cause) {
      await this.refuse(transport, { outcome: 'unparseable', errorCode: 'HL7_UNPARSEABLE' });
      throw new AppError<NormalizeErrorCode>({ code: 'HL7_UNPARSEABLE', retryable: false, message: 'raw message does not parse as HL7 v2', cause: isAppError(cause) ? cause : undefined });
    }
    // label values must stay bounded: the wire's MSH-9 is not a label, the mapped family is
    const type = MAPPED_TYPES.has(input.meta.messageType ?? '') ? (input.meta.messageType as string) : 'other';
    const segments = message.segments.map((s) => ({ name: s.name, fields: Array.from({ length: s.fieldCount }, (_, i) => s.raw(i + 1)) }));
    const outcome = mapHl7Message(message, { sourceMessageId: envelope.id, patientKeySecret: this.config.patientKeySecret });
    if (outcome.kind === 'refused') {
      await this.refuse(transport, { outcome: 'refused', errorCode: outcome.code, errorField: outcome.field, segments });
      outcomes.labels('refused', type).inc();
      throw refusalToAppError(outcome);
    }
    // group commit: concurrent messages share one transaction (database effects only in here, see TransactionBatcher)
    const result = await this.batcher.run({ inbox: { consumer: input.consumer, key: envelope.idempotencyKey }, work: async (manager) => {
      if (!(await claimInbox(manager, input.consumer, envelope.idempotencyKey))) return { events: 0, duplicate: true };
      await this.repository.recordTransport(manager, transport);
      await this.repository.recordOutcome(manager, { idempotencyKey: envelope.idempotencyKey, outcome: 'mapped', eventTypes: outcome.events.map((e) => e.type), segments });
      await addToOutbox(
        manager,
        outcome.events.map((e) => ({
          envelope: causedBy(envelope, {
            type: e.type,
            source: 'lifeline/normalizer',
            data: e.data,
            idempotencyKey: e.idempotencyKey,
            patientKey: e.patientKey,
            priority: e.priority,
          }),
          // one order's events are published in the order they were written
          aggregateId: e.data.orderId,
          expectStream: 'CLINICAL',
        })),
      );
      return { events: outcome.events.length, duplicate: false };
    } });
    outcomes.labels(result.duplicate ? 'duplicate' : 'mapped', type).inc();
    return result;
  }

  private async refuse(transport: TransportRecord, outcome: { outcome: 'refused' | 'unparseable'; errorCode: string; errorField?: string; segments?: unknown }): Promise<void> {
    // No inbox claim here: a redelivery (e.g. after a failed dead-letter publish) must reach the DLQ again.
    await runInTransaction(this.dataSource, async (manager) => {
      await this.repository.recordTransport(manager, transport);
      await this.repository.recordOutcome(manager, { idempotencyKey: transport.idempotencyKey, eventTypes: [], ...outcome });
    });
  }
}
