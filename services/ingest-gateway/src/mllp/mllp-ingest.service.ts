import { createHash, randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { Counter, Histogram } from 'prom-client';

import { HEADERS, SUBJECTS, laneSubject } from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { acceptCode, ackModeFor, buildAck, classifyHl7Priority, parseHl7, parseMsh, type AckCode, type AckError, type Hl7Msh, type Hl7Priority, type MllpInboundMessage } from '@lifeline/hl7';
import { CONTENT_TYPE_HEADER, HL7V2_CONTENT_TYPE, JetStreamPublisher } from '@lifeline/messaging';
import { ATTR, SpanKind, inSpan, registry, type Logger } from '@lifeline/observability';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { INGEST_GATEWAY_CONFIG, type IngestGatewayConfig } from '../config/ingest-gateway.config.js';
import { MllpAckStore } from './mllp-ack.store.js';
import { classifyResend, duplicateKey, isPending, normalizedSha256, type AckClaim, type DuplicateVerdict, type StoredAck } from './mllp-duplicate.util.js';

const messages = new Counter({
  name: 'mllp_messages_total',
  help: 'HL7 v2 messages received over MLLP, by ACK code',
  labelNames: ['ack_code'] as const,
  registers: [registry],
});
const ackLatency = new Histogram({
  name: 'mllp_ack_latency_seconds',
  help: 'Time from a complete frame to its ACK (includes the INGEST PubAck)',
  labelNames: ['ack_code'] as const,
  buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5],
  registers: [registry],
});

const duplicateReplays = new Counter({
  name: 'mllp_duplicate_replays_total',
  help: 'Resent HL7 messages (same sender, MSH-10 and content) answered with the stored ACK',
  registers: [registry],
});
// The alert metric of R17: a sender reused a control id for other content. No labels: no PHI.
const duplicateConflicts = new Counter({
  name: 'mllp_duplicate_conflicts_total',
  help: 'HL7 messages rejected because their MSH-10 was already used with different content',
  registers: [registry],
});
const pendingResends = new Counter({
  name: 'mllp_duplicate_pending_resends_total',
  help: 'Resends that found their first copy not yet confirmed stored and were published again (idempotent)',
  registers: [registry],
});
const registerErrors = new Counter({
  name: 'mllp_duplicate_register_errors_total',
  help: 'Duplicate register (KV) failures, each answered AE/CE',
  labelNames: ['operation'] as const,
  registers: [registry],
});

type Answer = { code: AckCode; payload: string; msh: Hl7Msh | null };

// Processing ids of MSH-11 we accept: production, training, debugging.
const PROCESSING_IDS = new Set(['P', 'T', 'D']);

/**
 * One MLLP frame in, one ACK out. The raw message is published to INGEST (Nats-Msg-Id = sending
 * application + facility + MSH-10) and only a PubAck turns into AA/CA; a store failure answers AE/CE so
 * the sender retries, an unreadable header answers AR/CR with an ERR segment. Never throws.
 */
@Injectable()
export class MllpIngestService {
  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly acks: MllpAckStore,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    @Inject(INGEST_GATEWAY_CONFIG) private readonly config: IngestGatewayConfig,
  ) {}

  async handle(msg: MllpInboundMessage): Promise<string> {
    const started = process.hrtime.bigint();
    // Each inbound message starts its own trace: one trace per clinical event.
    const ack = await inSpan({ name: 'receive mllp', kind: SpanKind.SERVER, parent: ROOT_CONTEXT, attributes: { 'network.transport': 'tcp' } }, async (span) => {
      const result = await this.process(msg);
      span.setAttribute(ATTR.hl7AckCode, result.code);
      if (result.msh) {
        span.setAttribute(ATTR.hl7ControlId, result.msh.controlId);
        span.setAttribute(ATTR.hl7MessageType, result.msh.messageType);
      }
      return result;
    });
    messages.labels(ack.code).inc();
    ackLatency.labels(ack.code).observe(Number(process.hrtime.bigint() - started) / 1e9);
    return ack.payload;
  }

  private async process(msg: MllpInboundMessage): Promise<Answer> {
    let msh: Hl7Msh;
    let priority: Hl7Priority;
    try {
      // parsed once: the header and the lane come from the same parse
      const parsed = parseHl7(msg.payload);
      msh = parseMsh(parsed);
      // Stat orders and critical results take the INGEST stat lane, past any routine backlog.
      priority = classifyHl7Priority(parsed);
    } catch (err) {
      const field = isAppError(err) ? String(err.details.field ?? 'MSH') : 'MSH';
      this.logger.warn({ connection: msg.connectionId, bytes: msg.payload.length, field }, 'MLLP frame rejected: unreadable MSH');
      return this.answer(null, 'rejected', { hl7ErrorCode: field === 'MSH-12' ? '203' : '101', severity: 'E', location: mshLocation(field), diagnostic: `unreadable header (${field})` });
    }
    const processingId = msh.processingId.split('^')[0] ?? '';
    if (!PROCESSING_IDS.has(processingId)) {
      this.logger.warn({ controlId: msh.controlId, processingId }, 'MLLP frame rejected: unsupported processing id');
      return this.answer(msh, 'rejected', { hl7ErrorCode: '202', severity: 'E', location: 'MSH^1^11', diagnostic: 'unsupported processing id' });
    }
    return this.acks.enabled ? this.storeOnce(msg, msh, priority) : this.store(msg, msh, priority);
  }

  /**
   * R17 in two sequential round trips: the (sender, MSH-10) is claimed in the register first, with the
   * ACK this message will get ('pending'), then the message is published; the ACK goes out after the
   * PubAck while the record is confirmed ('stored') beside it, off the ACK's path.
   *
   * - held by other content → AR/CR (ERR 205), nothing published;
   * - held and stored → the remembered ACK byte for byte, nothing published;
   * - held and pending (the first copy is still in flight, or its publish failed or the gateway died
   *   before the PubAck) → published again, then the remembered ACK. Same Nats-Msg-Id within the
   *   broker's window, and the normalizer's inbox drops the copy by idempotency key after it.
   * - the register unavailable → AE/CE before anything is published; a confirm that fails leaves the
   *   record pending, which only costs a resend one idempotent publish.
   * A pending record that never gets its PubAck never answers AA to anyone.
   */
  private async storeOnce(msg: MllpInboundMessage, msh: Hl7Msh, priority: Hl7Priority): Promise<Answer> {
    const key = duplicateKey(msh);
    const contentSha256 = normalizedSha256(msg.payload);
    const accepted = this.answer(msh, 'accepted');
    const record: StoredAck = { sha256: contentSha256, ack: accepted.payload, code: accepted.code, state: 'pending' };
    let claim: AckClaim;
    try {
      claim = await this.acks.claim(key, record);
    } catch (err) {
      return this.registerUnavailable(msh, 'claim', err);
    }
    let held = record;
    if (claim.kind === 'held') {
      const verdict = classifyResend(claim.stored, contentSha256);
      if (verdict.kind === 'conflict' || (verdict.kind === 'resend' && !isPending(verdict.stored)))
        return this.duplicate(msh, verdict, contentSha256);
      held = claim.stored;
      pendingResends.inc();
    }
    const answer = await this.store(msg, msh, priority, accepted);
    // AE/CE: the record stays pending, so the sender's retry publishes again.
    if (answer.code !== accepted.code) return answer;
    this.acks.confirm(key, held, claim.revision).catch((err: unknown) => {
      registerErrors.labels('confirm').inc();
      this.logger.warn({ controlId: msh.controlId, err: { name: (err as Error).name, code: (err as { code?: string }).code } }, 'MLLP ACK record left pending');
    });
    return { code: held.code, payload: held.ack, msh };
  }

  private duplicate(msh: Hl7Msh, verdict: Exclude<DuplicateVerdict, { kind: 'new' }>, sha256: string): Answer {
    if (verdict.kind === 'resend') {
      duplicateReplays.inc();
      this.logger.info({ controlId: msh.controlId, type: msh.messageType, sha256 }, 'HL7 resend answered with the stored ACK');
      return { code: verdict.stored.code, payload: verdict.stored.ack, msh };
    }
    duplicateConflicts.inc();
    this.logger.warn(
      { alert: 'mllp-duplicate-conflict', controlId: msh.controlId, type: msh.messageType, sha256, storedSha256: verdict.stored.sha256 },
      'HL7 message rejected: MSH-10 already used with different content',
    );
    return this.answer(msh, 'rejected', { hl7ErrorCode: '205', severity: 'E', location: 'MSH^1^10', diagnostic: 'duplicate control id with different content' });
  }

  private registerUnavailable(msh: Hl7Msh, operation: 'claim', err: unknown): Answer {
    registerErrors.labels(operation).inc();
    this.logger.error({ controlId: msh.controlId, operation, err: { name: (err as Error).name, code: (err as { code?: string }).code } }, 'MLLP duplicate register unavailable');
    return this.answer(msh, 'store-unavailable', { hl7ErrorCode: '207', severity: 'E', diagnostic: 'message store unavailable, retry later' });
  }

  /** `accepted`: the AA/CA to answer once stored, when the caller built it already (storeOnce). */
  private async store(msg: MllpInboundMessage, msh: Hl7Msh, priority: Hl7Priority, accepted?: Answer): Promise<Answer> {
    const sha256 = createHash('sha256').update(msg.payload).digest('hex');
    const id = randomUUID();
    const headers: Record<string, string> = {
      [HEADERS.id]: id,
      [HEADERS.type]: SUBJECTS.ingest.hl7v2,
      [HEADERS.source]: `mllp://${msh.sendingApplication}/${msh.sendingFacility}`,
      [HEADERS.time]: new Date().toISOString(),
      [HEADERS.specversion]: '1.0',
      [HEADERS.correlationId]: id,
      [HEADERS.idempotencyKey]: `hl7v2|${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`,
      [HEADERS.priority]: priority,
      [CONTENT_TYPE_HEADER]: HL7V2_CONTENT_TYPE,
      'lifeline-hl7-message-type': msh.messageType,
      'lifeline-hl7-control-id': msh.controlId,
      'lifeline-hl7-sending-application': msh.sendingApplication,
      'lifeline-hl7-sending-facility': msh.sendingFacility,
      'lifeline-hl7-sha256': sha256,
      'lifeline-remote-address': msg.remoteAddress,
    };
    try {
      const ack = await this.publisher.publishRaw({
        subject: laneSubject(SUBJECTS.ingest.hl7v2, priority),
        headers,
        body: msg.payload,
        // MSH-10 is unique per sending application (MSH-3), not per facility: without MSH-3 the broker
        // would drop another application's message with the same MSH-10 and we would still answer AA.
        msgId: `${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`,
        expectStream: 'INGEST',
        template: SUBJECTS.ingest.hl7v2,
      });
      this.logger.info({ controlId: msh.controlId, type: msh.messageType, priority, seq: ack.seq, duplicate: ack.duplicate, sha256 }, 'HL7 message stored');
      return accepted ?? this.answer(msh, 'accepted');
    } catch (err) {
      // Not durably stored: AE/CE tells the sender to retry; nothing was acknowledged.
      this.logger.error({ controlId: msh.controlId, err: { name: (err as Error).name, code: (err as { code?: string }).code } }, 'INGEST publish failed');
      return this.answer(msh, 'store-unavailable', { hl7ErrorCode: '207', severity: 'E', diagnostic: 'message store unavailable, retry later' });
    }
  }

  private answer(msh: Hl7Msh | null, outcome: 'accepted' | 'store-unavailable' | 'rejected', error?: AckError): Answer {
    const code = acceptCode(ackModeFor(msh), outcome);
    const payload = buildAck({ msh, code, controlId: randomUUID().replace(/-/g, '').slice(0, 20), error, now: new Date() });
    return { code, payload, msh };
  }

  get maxFrameBytes(): number {
    return this.config.mllp.maxFrameBytes;
  }
}

function mshLocation(field: string): string {
  const n = /^MSH-(\d+)$/.exec(field)?.[1];
  return n ? `MSH^1^${n}` : 'MSH^1';
}
