import { Server, type CustomTransportStrategy, type ReadPacket } from '@nestjs/microservices';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { lastValueFrom } from 'rxjs';

import {
  EnvelopeHeaderError,
  consumersOf,
  isKnownType,
  validatePayload,
  type ConsumerSpec,
  type Envelope,
  type Naming,
  type ServiceName,
} from '@lifeline/contracts';
import { AppError } from '@lifeline/errors';
import {
  ATTR,
  METRICS,
  MESSAGING_SYSTEM,
  SpanKind,
  currentTraceId,
  extractTraceContext,
  inSpan,
  type Logger,
} from '@lifeline/observability';

import { JetStreamContext } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { CONTENT_TYPE_HEADER, HL7V2_CONTENT_TYPE, decodeEnvelopeHeaders, headerSource } from './header-codec.js';
import { buildDeadLetter, deadLetterMsgId, deadLetterSubject, type AttemptRecord } from './dead-letter.js';
import { DEFAULT_RETRY_POLICY, backoffDelay, decideAck, type AckDecision, type RetryPolicy } from './retry-policy.js';
import { Semaphore } from './semaphore.util.js';

export type MessagingErrorCode = 'ENVELOPE_INVALID' | 'PAYLOAD_UNPARSEABLE' | 'PAYLOAD_INVALID' | 'NO_HANDLER';

export interface JetStreamServerOptions {
  nc: NatsConnection;
  naming: Naming;
  service: ServiceName;
  serviceVersion: string;
  logger: Logger;
  /** Defaults to the service's consumers in the topology. */
  consumers?: ConsumerSpec[];
  /** Retry policy per durable (unprefixed); defaults to the topology's maxAttempts with DEFAULT_RETRY_POLICY. */
  retryPolicy?: (spec: ConsumerSpec) => RetryPolicy;
  /** How long close() waits for in-flight handlers. */
  drainTimeoutMs?: number;
}

interface ConsumerLoop {
  spec: ConsumerSpec;
  messages?: ConsumerMessages;
  semaphore: Semaphore;
  running: boolean;
}

/**
 * NestJS transport for JetStream durable pull consumers. One consumer per `@EventPattern(filterSubject)`
 * handler; per message: continue the producer's trace, run the handler, then ack, nak with a delay
 * (retryable), or dead-letter then term (permanent or out of attempts). The dead letter's PubAck is
 * awaited before the term; if it fails the original is nak'ed, never termed, so nothing is lost.
 */
export class JetStreamServer extends Server implements CustomTransportStrategy {
  // Base Server swallows event handler errors; we must see them to choose ack, nak or term.
  override readonly propagatesEventHandlerErrors = true;
  private readonly js: JetStreamClient;
  private readonly publisher: JetStreamPublisher;
  private readonly loops: ConsumerLoop[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly attempts = new Map<string, AttemptRecord[]>();
  private closing = false;

  constructor(private readonly options: JetStreamServerOptions) {
    super();
    this.js = jetstream(options.nc);
    this.publisher = new JetStreamPublisher(options.nc, options.naming);
  }

  on(): never {
    throw new Error('JetStreamServer has no events to subscribe to');
  }

  unwrap<T>(): T {
    return this.options.nc as T;
  }

  listen(callback: (err?: unknown) => void): void {
    this.start()
      .then(() => callback())
      .catch((err: unknown) => callback(err));
  }

  private async start(): Promise<void> {
    const specs = this.options.consumers ?? consumersOf(this.options.service);
    for (const pattern of this.messageHandlers.keys()) {
      const spec = specs.find((s) => s.filterSubject === pattern);
      if (!spec) throw new Error(`@EventPattern('${pattern}') has no consumer in the topology for ${this.options.service}`);
      const loop: ConsumerLoop = { spec, semaphore: new Semaphore(spec.concurrency), running: true };
      this.loops.push(loop);
      // verify the durable exists before reporting ready (fails fast on a missing topology)
      await this.js.consumers.get(this.options.naming.stream(spec.stream), this.options.naming.durable(spec.durable));
      void this.run(loop);
    }
  }

  /** Pull loop; recreated when the server stops sending heartbeats (STACK.md §3). */
  private async run(loop: ConsumerLoop): Promise<void> {
    const { naming } = this.options;
    while (!this.closing && loop.running) {
      try {
        const consumer = await this.js.consumers.get(naming.stream(loop.spec.stream), naming.durable(loop.spec.durable));
        const messages = await consumer.consume({ max_messages: loop.spec.concurrency * 2 });
        loop.messages = messages;
        void this.watchStatus(messages);
        for await (const msg of messages) {
          await loop.semaphore.acquire();
          const job = this.process(loop.spec, msg).finally(() => {
            loop.semaphore.release();
            this.inFlight.delete(job);
          });
          this.inFlight.add(job);
        }
      } catch (err) {
        if (this.closing) return;
        this.options.logger.error({ err: describe(err), consumer: loop.spec.durable }, 'consumer loop failed; restarting');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === 'heartbeats_missed' && s.count >= 2) {
        this.options.logger.warn({ missed: s.count }, 'heartbeats missed; recreating the pull iterator');
        messages.stop();
        return;
      }
    }
  }

  private async process(spec: ConsumerSpec, msg: JsMsg): Promise<void> {
    const { naming, service } = this.options;
    const unprefixed = naming.unprefix(msg.subject);
    const started = process.hrtime.bigint();
    await inSpan(
      {
        name: `process ${spec.filterSubject}`,
        kind: SpanKind.CONSUMER,
        parent: extractTraceContext(headerSource(msg.headers)),
        attributes: {
          [ATTR.messagingSystem]: MESSAGING_SYSTEM,
          [ATTR.messagingOperationType]: 'process',
          [ATTR.messagingDestinationName]: unprefixed,
          [ATTR.messagingDestinationTemplate]: spec.filterSubject,
          [ATTR.messagingConsumerGroup]: spec.durable,
          [ATTR.natsStream]: msg.info.stream,
          [ATTR.natsSequence]: msg.info.streamSequence,
          [ATTR.natsDeliveryCount]: msg.info.deliveryCount,
          'service.component': service,
        },
      },
      async (span) => {
        let decision: AckDecision;
        let envelope: Envelope<unknown> | undefined;
        try {
          envelope = decode(msg, unprefixed);
          span.setAttribute(ATTR.messagingMessageId, envelope.id);
          span.setAttribute(ATTR.eventType, envelope.type);
          if (envelope.patientKey) span.setAttribute(ATTR.patientKey, envelope.patientKey);
          const ctx = new JetStreamContext([msg, envelope, spec, naming.durable(spec.durable)]);
          await this.handleEvent(spec.filterSubject, { pattern: spec.filterSubject, data: envelope }, ctx);
          decision = { action: 'ack' };
        } catch (error) {
          decision = decideAck({ error, deliveryCount: msg.info.deliveryCount, policy: this.policyFor(spec) });
        }
        span.setAttribute(ATTR.outcome, decision.action);
        if (decision.action !== 'ack') span.setAttribute(ATTR.errorCode, decision.code);
        await this.settle(spec, msg, unprefixed, decision);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        METRICS.processDuration.labels(spec.durable, decision.action).observe(seconds);
        METRICS.messages.labels(spec.durable, spec.filterSubject, decision.action).inc();
      },
    ).catch((err: unknown) => {
      // settle() already handles its own failures; this is the last guard so a loop never dies
      this.options.logger.error({ err: describe(err), consumer: spec.durable }, 'message processing failed');
    });
  }

  private policyFor(spec: ConsumerSpec): RetryPolicy {
    return this.options.retryPolicy?.(spec) ?? { ...DEFAULT_RETRY_POLICY, maxAttempts: spec.maxAttempts };
  }

  private async settle(spec: ConsumerSpec, msg: JsMsg, subject: string, decision: AckDecision): Promise<void> {
    const key = `${msg.info.stream}:${msg.info.streamSequence}`;
    const { logger } = this.options;
    switch (decision.action) {
      case 'ack':
        msg.ack();
        this.attempts.delete(key);
        return;
      case 'nak':
        this.recordAttempt(key, msg);
        msg.nak(decision.delayMs);
        logger.warn(
          { consumer: spec.durable, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount, code: decision.code, delayMs: decision.delayMs },
          'handler failed; redelivery scheduled',
        );
        return;
      case 'dead-letter':
        this.recordAttempt(key, msg);
        await this.deadLetter(spec, msg, subject, decision, key);
        return;
    }
  }

  private async deadLetter(
    spec: ConsumerSpec,
    msg: JsMsg,
    subject: string,
    decision: Extract<AckDecision, { action: 'dead-letter' }>,
    key: string,
  ): Promise<void> {
    const { service, serviceVersion, logger } = this.options;
    const record = buildDeadLetter({
      msg,
      unprefixedSubject: subject,
      error: decision,
      attempts: this.attempts.get(key) ?? [],
      consumer: spec.durable,
      service,
      serviceVersion,
      traceId: currentTraceId(),
      now: new Date(),
    });
    try {
      await this.publisher.publishRaw({
        subject: deadLetterSubject(service, spec.durable),
        template: 'dlq.{service}.{consumer}',
        headers: {
          'ce-type': 'dlq.dead-letter.v1',
          'lifeline-dlq-error-code': decision.code,
          'lifeline-dlq-consumer': spec.durable,
          ...(record.patientKey ? { 'lifeline-patient-key': record.patientKey } : {}),
        },
        body: new TextEncoder().encode(JSON.stringify(record)),
        msgId: deadLetterMsgId(msg.info.stream, msg.info.streamSequence),
        expectStream: 'DLQ',
      });
    } catch (err) {
      // The DLQ did not confirm: keep the original (nak), never term it.
      const delayMs = backoffDelay(this.policyFor(spec), msg.info.deliveryCount);
      msg.nak(delayMs);
      logger.error({ err: describe(err), consumer: spec.durable, seq: msg.info.streamSequence, delayMs }, 'dead-letter publish failed; message kept');
      return;
    }
    msg.term();
    this.attempts.delete(key);
    METRICS.deadLetters.labels(spec.durable, decision.code).inc();
    logger.error(
      { consumer: spec.durable, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount, code: decision.code, reason: decision.reason },
      'message dead-lettered',
    );
  }

  private recordAttempt(key: string, msg: JsMsg): void {
    const list = this.attempts.get(key) ?? [];
    list.push({ at: new Date().toISOString(), deliveryCount: msg.info.deliveryCount });
    this.attempts.set(key, list);
    // bounded memory: forget the oldest entries (attempt history is best-effort across restarts)
    if (this.attempts.size > 10_000) {
      const oldest = this.attempts.keys().next().value;
      if (oldest !== undefined) this.attempts.delete(oldest);
    }
  }

  override async handleEvent(pattern: string, packet: ReadPacket, context: JetStreamContext): Promise<void> {
    const handler = this.getHandlerByPattern(pattern);
    if (!handler) {
      throw new AppError<MessagingErrorCode>({ code: 'NO_HANDLER', retryable: true, message: `no handler for ${pattern}` });
    }
    const result: unknown = await handler(packet.data, context);
    // Await the handler's stream so its error reaches settle(); defaultValue avoids EmptyError.
    await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
  }

  /** Stops pulling, waits for in-flight handlers (bounded), leaves the connection to its owner. */
  async close(): Promise<void> {
    this.closing = true;
    for (const loop of this.loops) {
      loop.running = false;
      loop.messages?.stop();
    }
    const timeout = this.options.drainTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => {
        timer = setTimeout(r, timeout);
      }),
    ]);
    if (timer) clearTimeout(timer);
    // ack() is fire-and-forget: flush so the server has every settlement before we report closed
    if (!this.options.nc.isClosed()) await this.options.nc.flush().catch(() => undefined);
  }

  /** For health: whether every consumer loop is pulling. */
  isConsuming(): boolean {
    return !this.closing && this.loops.length > 0 && this.loops.every((l) => l.running && l.messages !== undefined);
  }

  /** Consumer loops started (0 for a service that only publishes). */
  consumerCount(): number {
    return this.loops.length;
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }
}

function decode(msg: JsMsg, subject: string): Envelope<unknown> {
  const contentType = msg.headers?.get(CONTENT_TYPE_HEADER) ?? '';
  let data: unknown;
  if (contentType === HL7V2_CONTENT_TYPE) {
    data = Buffer.from(msg.data);
  } else {
    try {
      data = JSON.parse(new TextDecoder().decode(msg.data));
    } catch (cause) {
      throw new AppError<MessagingErrorCode>({ code: 'PAYLOAD_UNPARSEABLE', retryable: false, message: 'body is not JSON', cause });
    }
  }
  let envelope: Envelope<unknown>;
  try {
    envelope = decodeEnvelopeHeaders(msg.headers, data);
  } catch (cause) {
    const missing = cause instanceof EnvelopeHeaderError ? cause.missing.join(',') : 'unknown';
    throw new AppError<MessagingErrorCode>({ code: 'ENVELOPE_INVALID', retryable: false, message: `envelope headers missing: ${missing}`, cause });
  }
  if (isKnownType(envelope.type)) {
    const result = validatePayload(envelope.type, data);
    if (!result.ok) {
      const paths = result.issues.map((i) => `${i.path}:${i.message}`).join(',');
      throw new AppError<MessagingErrorCode>({ code: 'PAYLOAD_INVALID', retryable: false, message: `payload fails ${envelope.type}: ${paths}`, details: { subject } });
    }
    envelope = { ...envelope, data: result.value };
  }
  return envelope;
}

function describe(err: unknown): { name: string; code?: string } {
  if (err instanceof Error) return { name: err.name, code: (err as { code?: string }).code };
  return { name: typeof err };
}
