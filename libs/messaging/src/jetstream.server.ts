import { Server, type CustomTransportStrategy, type ReadPacket } from '@nestjs/microservices';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck } from '@nats-io/jetstream';
import { lastValueFrom } from 'rxjs';

import {
  EnvelopeHeaderError,
  HEADERS,
  consumersOf,
  isKnownType,
  isStatLane,
  laneSubject,
  validatePayload,
  withPriorityLanes,
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
import { buildDeadLetter, deadLetterMsgId, deadLetterSubject, type DeadLetterSource } from './dead-letter.js';
import { AttemptStore } from './attempt.store.js';
import { ParkingStore } from './parking.store.js';
import { PatientOrderGate } from './patient-order.gate.js';
import { RetryHeadStore } from './retry-head.store.js';
import { ConsumerLeases, type ConsumerLeaseOptions, type HeldLease } from './consumer-lease.js';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  decideAck,
  policySetFrom,
  type AckDecision,
  type AttemptRecord,
  type PolicySet,
  type RetryPolicy,
} from './retry-policy.js';
import { RetryPolicyResolver, type RetryPoliciesConfig } from './retry-policy.config.js';
import { Semaphore } from './semaphore.util.js';
import { LanePrecedence } from './lane-precedence.util.js';
import { streamSequenceOfAck } from './ack-subject.util.js';

export type MessagingErrorCode = 'ENVELOPE_INVALID' | 'PAYLOAD_UNPARSEABLE' | 'PAYLOAD_INVALID' | 'NO_HANDLER';

export interface JetStreamServerOptions {
  nc: NatsConnection;
  naming: Naming;
  service: ServiceName;
  serviceVersion: string;
  logger: Logger;
  /** Defaults to the service's consumers in the topology, each with its stat lane. */
  consumers?: ConsumerSpec[];
  /** Retry policy per durable (unprefixed); defaults to the topology's maxAttempts with DEFAULT_RETRY_POLICY. */
  retryPolicy?: (spec: ConsumerSpec) => RetryPolicy;
  /** Retry policies as data (RETRY_POLICIES), merged over the defaults above; validated at start. */
  retryPolicies?: RetryPoliciesConfig;
  /** How long close() waits for in-flight handlers (and for its pull requests to expire). */
  drainTimeoutMs?: number;
  /**
   * Lifetime of each pull request (the client re-pulls before it ends; heartbeats every half of it).
   * close() keeps listening this long after it stops pulling (see handBack). Minimum 1,000.
   */
  pullExpiresMs?: number;
  /**
   * One active process per consumer across replicas (ConsumerLeases): needed for per-patient order
   * with more than one replica, and across a crash (the TTL must exceed the consumers' ack wait).
   * Off when undefined.
   */
  exclusive?: ConsumerLeaseOptions;
  /**
   * Per-patient ordering (lifeline-patient-key): serial within a patient, parallel across patients,
   * with parking per policy. `holdMs`: redelivery delay of a message held behind its patient's
   * retrying head; `parkHoldMs`: behind a parked (dead-lettered) head. Neither consumes attempts.
   * `persistRetryHeads` (default true; false only for the negative control): keep retrying heads in
   * KV so the hold survives a restart (RetryHeadStore). `handOverOnStop` (default true; false only for
   * the negative control): a graceful stop records every message it still expects back (handOverExpected).
   */
  ordering?: { enabled?: boolean; holdMs?: number; parkHoldMs?: number; persistRetryHeads?: boolean; handOverOnStop?: boolean };
}

interface ConsumerLoop {
  spec: ConsumerSpec;
  /** The handler's `@ConsumeEvent` pattern (the routine filter; a stat lane shares its handler). */
  pattern: string;
  /** Messages accepted from the pull (running or waiting behind their patient): bounds memory. */
  intake: Semaphore;
  gate: PatientOrderGate;
  messages?: ConsumerMessages;
  semaphore: Semaphore;
  running: boolean;
  /** The pull loop; settles once the iterator has yielded its last buffered message. */
  finished?: Promise<void>;
  /** Exclusive consumers: the lease this process holds for the durable, if any. */
  lease?: HeldLease;
  /** Exclusive consumers: waiting for the lease (another replica is active). Healthy. */
  standby?: boolean;
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
  private readonly attemptStore: AttemptStore;
  /** Parked patients (KV, mirrored in memory): release / discard through the ops API. */
  readonly parking: ParkingStore;
  private readonly retryHeads?: RetryHeadStore;
  private readonly leases?: ConsumerLeases;
  private readonly resolver: RetryPolicyResolver;
  private readonly advisorySubs: Subscription[] = [];
  /** Subscriptions catching deliveries to stopped pulls until those expire (stopPull). */
  private readonly catchers = new Set<{ done: Promise<void>; end: () => void }>();
  private jsm?: JetStreamManager;
  private specs: ConsumerSpec[] = [];
  private closing = false;
  private readonly precedence = new LanePrecedence();
  /** Whether any consumer loop is a stat lane: only then does routine work defer to it. */
  private laned = false;

  constructor(private readonly options: JetStreamServerOptions) {
    super();
    this.js = jetstream(options.nc);
    this.publisher = new JetStreamPublisher(options.nc, options.naming);
    this.attemptStore = new AttemptStore(options.nc, options.naming, options.logger);
    this.parking = new ParkingStore(options.nc, options.naming, options.logger);
    if (options.ordering?.persistRetryHeads ?? true) this.retryHeads = new RetryHeadStore(options.nc, options.naming, options.logger);
    if (options.exclusive) this.leases = new ConsumerLeases(options.nc, options.naming, options.logger, options.exclusive);
    this.resolver = new RetryPolicyResolver(options.retryPolicies ?? {}, (scope) => {
      const spec = this.specs.find((s) => s.durable === scope.consumer);
      const legacy = spec ? this.options.retryPolicy?.(spec) : undefined;
      return policySetFrom(legacy ?? { ...DEFAULT_RETRY_POLICY, maxAttempts: spec?.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts });
    });
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
    const specs = this.options.consumers ?? withPriorityLanes(consumersOf(this.options.service));
    this.specs = specs;
    // fail fast at boot on an inconsistent policy document
    this.resolver.validate(this.options.service, specs.map((s) => s.durable));
    const longestAckWait = Math.max(0, ...specs.map((s) => s.ackWaitMs));
    if (this.options.exclusive && !this.options.exclusive.unsafeShortTtl && this.options.exclusive.ttlMs <= longestAckWait) {
      // a shorter lease lets a new holder overtake a crashed one's in-flight messages
      throw new AppError({
        code: 'CONFIG_INVALID',
        retryable: false,
        message: `${this.options.service}: consumer lease TTL ${this.options.exclusive.ttlMs} ms must exceed the longest ack wait (${longestAckWait} ms)`,
      });
    }
    if (this.messageHandlers.size > 0) {
      this.jsm = await jetstreamManager(this.options.nc);
      await this.attemptStore.open();
      await this.leases?.open();
      // loaded before any loop pulls: a restarted process already knows parked and retrying heads
      if (this.orderingEnabled()) await Promise.all([this.parking.open(), this.retryHeads?.open()]);
    }
    for (const pattern of this.messageHandlers.keys()) {
      const spec = specs.find((s) => s.filterSubject === pattern);
      if (!spec) throw new Error(`@EventPattern('${pattern}') has no consumer in the topology for ${this.options.service}`);
      // one decorator, both lanes: the stat lane is its own durable with its own permits
      const stat = specs.find((s) => s !== spec && s.filterSubject === laneSubject(pattern, 'stat'));
      for (const laneSpec of stat ? [spec, stat] : [spec]) {
        const loop: ConsumerLoop = {
          spec: laneSpec,
          pattern,
          semaphore: new Semaphore(laneSpec.concurrency),
          intake: new Semaphore(laneSpec.concurrency * 4),
          gate: new PatientOrderGate(),
          running: true,
        };
        this.loops.push(loop);
        if (laneSpec === stat) this.laned = true;
        // verify the durable exists before reporting ready (fails fast on a missing topology)
        await this.js.consumers.get(this.options.naming.stream(laneSpec.stream), this.options.naming.durable(laneSpec.durable));
        this.watchMaxDeliveries(laneSpec);
      }
    }
    for (const loop of this.loops) loop.finished = this.run(loop);
  }

  /** Pull loop; recreated when the server stops sending heartbeats (STACK.md §3). */
  private async run(loop: ConsumerLoop): Promise<void> {
    const { naming } = this.options;
    while (!this.closing && loop.running) {
      if (this.leases && !loop.lease) {
        // standby until this process holds the consumer; pulls stop the moment the lease is lost
        loop.standby = true;
        const lease = await this.leases.acquire(naming.durable(loop.spec.durable), () => this.closing || !loop.running);
        if (!lease) return;
        loop.standby = false;
        loop.lease = lease;
        void lease.lost.then(() => {
          if (loop.lease === lease) loop.lease = undefined;
          if (loop.messages) this.stopPull(loop, loop.messages);
        });
      }
      try {
        const consumer = await this.js.consumers.get(naming.stream(loop.spec.stream), naming.durable(loop.spec.durable));
        const messages = await consumer.consume({ max_messages: loop.spec.concurrency * 2, expires: this.pullExpiresMs() });
        loop.messages = messages;
        void this.watchStatus(loop, messages);
        const routine = this.laned && !isStatLane(loop.spec.filterSubject);
        for await (const msg of messages) {
          // stopping (or the lease is gone): what the pull had buffered goes back at once (see handBack)
          if (!loop.running || this.closing || (this.leases !== undefined && !loop.lease)) {
            await this.handBack(loop.spec, msg.headers?.get(HEADERS.patientKey) || '', msg.info.streamSequence, (delayMs) => msg.nak(delayMs));
            continue;
          }
          // no more routine messages (nor pull requests) while stat work is busy (LanePrecedence)
          if (routine) await this.precedence.routineTurn();
          await loop.intake.acquire();
          const job = this.dispatch(loop, msg).finally(() => {
            loop.intake.release();
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

  private pullExpiresMs(): number {
    return Math.max(1_000, this.options.pullExpiresMs ?? 2_000);
  }

  /**
   * A message delivered to this process after it started stopping. Left alone it would come back only
   * after ack wait (30 s), after its patient's later messages reached the next process. It is nak'ed
   * with a delay that outlasts our pull requests (so it is not delivered to them again), and recorded
   * as its patient's head first, so the next process holds that patient's later messages until it is back.
   */
  private async handBack(spec: ConsumerSpec, patientKey: string, seq: number, nak: (delayMs: number) => void): Promise<void> {
    const delayMs = this.pullExpiresMs();
    if (patientKey && this.orderingEnabled()) await this.noteRetryHead(spec, seq, patientKey, delayMs);
    nak(delayMs);
  }

  /**
   * The server keeps delivering against a pull request until it expires, even after the client stopped
   * and unsubscribed (nats.go#2103; seen here on 2.9.10): such a message waits out ack wait. So a
   * stopping loop keeps listening on its pull inbox until its requests have expired and hands back
   * whatever still arrives. The consume iterator does not expose this, hence a plain subscription.
   */
  private catchStaleDeliveries(spec: ConsumerSpec, messages: ConsumerMessages): Subscription | undefined {
    const inbox = (messages as { inbox?: unknown }).inbox;
    // a closed connection has no pulls left to catch (and subscribe would throw)
    if (typeof inbox !== 'string' || this.options.nc.isClosed()) return undefined;
    return this.options.nc.subscribe(inbox, {
      callback: (err, m) => {
        if (err || !m.reply) return; // status and heartbeat messages have no reply subject
        const seq = streamSequenceOfAck(m.reply);
        if (seq === undefined) return;
        const job = this.handBack(spec, m.headers?.get(HEADERS.patientKey) || '', seq, (delayMs) => nakRaw(m, delayMs)).finally(() => this.inFlight.delete(job));
        this.inFlight.add(job);
      },
    });
  }

  private async watchStatus(loop: ConsumerLoop, messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === 'heartbeats_missed' && s.count >= 2) {
        this.options.logger.warn({ missed: s.count }, 'heartbeats missed; recreating the pull iterator');
        this.stopPull(loop, messages);
        return;
      }
    }
  }

  /**
   * Stops a pull iterator without stranding messages: what the server still delivers to its pull
   * requests until they expire is caught and handed back (catchStaleDeliveries) for their lifetime plus
   * a margin for a loaded server; close() waits for that.
   */
  private stopPull(loop: ConsumerLoop, messages: ConsumerMessages): void {
    const catcher = this.catchStaleDeliveries(loop.spec, messages);
    messages.stop();
    if (!catcher) return;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.pullExpiresMs() + 1_000);
    });
    const entry = {
      done,
      end: () => {
        clearTimeout(timer);
        catcher.unsubscribe();
        this.catchers.delete(entry);
      },
    };
    this.catchers.add(entry);
    void done.then(entry.end);
  }

  private orderingEnabled(): boolean {
    return this.options.ordering?.enabled ?? true;
  }

  /**
   * Per-patient ordering before the handler: a parked patient's messages are held (delayed nak, no
   * attempt) except the operator-released head; otherwise the gate lets a message run only as the
   * lowest pending sequence of its patient. Run permits are taken after the gate, so a patient's queue
   * never occupies the permits other patients need.
   */
  private async dispatch(loop: ConsumerLoop, msg: JsMsg): Promise<void> {
    const { spec, gate } = loop;
    const patientKey = this.orderingEnabled() ? msg.headers?.get(HEADERS.patientKey) || '' : '';
    const seq = msg.info.streamSequence;
    const durable = this.options.naming.durable(spec.durable);
    const holdMs = this.options.ordering?.holdMs ?? 1_000;
    const parkHoldMs = this.options.ordering?.parkHoldMs ?? 30_000;
    let releasedHead = false;
    if (patientKey) {
      for (;;) {
        const parked = this.parking.get(durable, patientKey);
        releasedHead = parked?.status === 'releasing' && parked.headMessageId === (msg.headers?.get(HEADERS.id) || '');
        if (parked && !releasedHead) {
          // registered in the gate so the held messages come back in stream order once unparked
          gate.hold(patientKey, seq, parkHoldMs + spec.ackWaitMs);
          this.parking.noteHeld(durable, patientKey, seq, Date.now() + parkHoldMs + spec.ackWaitMs);
          msg.nak(parkHoldMs);
          METRICS.messages.labels(spec.durable, spec.filterSubject, 'parked').inc();
          return;
        }
        // the released head was re-published behind its held successors: it goes first, past the gate
        if (releasedHead) break;
        // an earlier message of this patient is away for a retry (maybe seen by a previous process)
        if (this.retryHeads?.blocking(durable, patientKey, seq)) {
          gate.hold(patientKey, seq, holdMs + spec.ackWaitMs);
          msg.nak(holdMs);
          METRICS.messages.labels(spec.durable, spec.filterSubject, 'held').inc();
          return;
        }
        const admission = gate.admit(patientKey, seq, holdMs + spec.ackWaitMs);
        if (admission.kind === 'run') break;
        if (admission.kind === 'wait') {
          await admission.until;
          continue;
        }
        msg.nak(holdMs);
        METRICS.messages.labels(spec.durable, spec.filterSubject, 'held').inc();
        return;
      }
    }
    const stat = isStatLane(spec.filterSubject);
    await loop.semaphore.acquire();
    if (!stat && this.laned) {
      // stat first (LanePrecedence), checked just before the handler: a stat message already read from
      // the socket is dispatched (setImmediate runs after the I/O poll) before this routine one starts
      await new Promise((resolve) => setImmediate(resolve));
      await this.precedence.routineTurn();
    }
    let decision: AckDecision | undefined;
    if (stat) this.precedence.enterStat();
    try {
      decision = await this.process(spec, msg, loop.pattern, patientKey);
    } finally {
      if (stat) this.precedence.leaveStat();
      loop.semaphore.release();
      if (patientKey && !releasedHead) {
        if (decision?.action === 'nak') gate.settle(patientKey, seq, 'away', decision.delayMs + spec.ackWaitMs);
        else if (decision) gate.settle(patientKey, seq, 'done');
        else gate.settle(patientKey, seq, 'away', spec.ackWaitMs);
      }
    }
    if (patientKey && decision && decision.action !== 'nak') {
      // in-memory check first: only a message that was a retrying head costs a KV write here
      await this.retryHeads?.clear(durable, patientKey, seq).catch((err: unknown) => {
        this.options.logger.warn({ err: describe(err), consumer: spec.durable }, 'retry head not cleared; it expires on its own');
      });
    }
    if (releasedHead && decision?.action === 'ack') {
      await this.parking.unpark(durable, patientKey).catch((err: unknown) => {
        this.options.logger.error({ err: describe(err), consumer: spec.durable }, 'unpark after release failed; the patient stays parked');
      });
    }
  }

  private async process(spec: ConsumerSpec, msg: JsMsg, pattern: string, patientKey = ''): Promise<AckDecision | undefined> {
    const { naming } = this.options;
    const unprefixed = naming.unprefix(msg.subject);
    const started = process.hrtime.bigint();
    return inSpan(
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
        },
      },
      async (span) => {
        let decision: AckDecision;
        let envelope: Envelope<unknown> | undefined;
        let attempts: AttemptRecord[] = [];
        let park = false;
        try {
          envelope = decode(msg, unprefixed);
          span.setAttribute(ATTR.messagingMessageId, envelope.id);
          span.setAttribute(ATTR.eventType, envelope.type);
          if (envelope.patientKey) span.setAttribute(ATTR.patientKey, envelope.patientKey);
          const decoded = envelope;
          const wouldDeadLetter = async (error: unknown): Promise<boolean> => {
            const history = msg.info.deliveryCount > 1 ? await this.attemptStore.read(this.attemptKey(spec, msg)) : [];
            const policies = this.policiesFor(spec, decoded.type);
            return decideAck({ error, deliveryCount: msg.info.deliveryCount, policies, history }).action === 'dead-letter';
          };
          const ctx = new JetStreamContext([msg, envelope, spec, naming.durable(spec.durable), wouldDeadLetter]);
          await this.handleEvent(pattern, { pattern, data: envelope }, ctx);
          decision = { action: 'ack' };
        } catch (error) {
          // The history survives restarts (KV); the first delivery has none, so skip the read.
          const key = this.attemptKey(spec, msg);
          const history = msg.info.deliveryCount > 1 ? await this.attemptStore.read(key) : [];
          const messageType = envelope?.type ?? (msg.headers?.get('ce-type') || undefined);
          const policies = this.policiesFor(spec, messageType);
          park = policies.park && patientKey !== '';
          decision = decideAck({ error, deliveryCount: msg.info.deliveryCount, policies, history });
          if (decision.action !== 'ack') {
            attempts = [
              ...(history ?? []),
              {
                at: new Date().toISOString(),
                deliveryCount: msg.info.deliveryCount,
                kind: decision.kind,
                code: decision.code,
                ...(decision.action === 'nak' ? { delayMs: decision.delayMs } : {}),
              },
            ];
          }
        }
        span.setAttribute(ATTR.outcome, decision.action);
        if (decision.action !== 'ack') span.setAttribute(ATTR.errorCode, decision.code);
        const settled = await this.settle(spec, msg, unprefixed, decision, attempts, park ? patientKey : '', patientKey);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        METRICS.processDuration.labels(spec.durable, settled.action).observe(seconds);
        METRICS.messages.labels(spec.durable, spec.filterSubject, settled.action).inc();
        return settled;
      },
    ).catch((err: unknown) => {
      // settle() already handles its own failures; this is the last guard so a loop never dies
      this.options.logger.error({ err: describe(err), consumer: spec.durable }, 'message processing failed');
      return undefined;
    });
  }

  /** The patient's later messages wait for this one, in this process (gate) and after a restart (KV). */
  private async noteRetryHead(spec: ConsumerSpec, seq: number, patientKey: string, delayMs: number): Promise<void> {
    if (!this.retryHeads) return;
    const head = { seq, until: Date.now() + delayMs + spec.ackWaitMs };
    await this.retryHeads.note(this.options.naming.durable(spec.durable), patientKey, head).catch((err: unknown) => {
      // ordering within this process still holds (gate); only a restart before the retry could reorder
      this.options.logger.warn({ err: describe(err), consumer: spec.durable }, 'retry head not recorded');
    });
  }

  /** The resolved policy set of a consumer and (when decoded) a message type. */
  policiesFor(spec: ConsumerSpec, messageType?: string): PolicySet {
    return this.resolver.resolve({ service: this.options.service, consumer: spec.durable, messageType });
  }

  private attemptKey(spec: ConsumerSpec, msg: { info: { stream: string; streamSequence: number } }): string {
    return AttemptStore.key(this.options.naming.durable(spec.durable), msg.info.stream, msg.info.streamSequence);
  }

  /** Settles with the broker; returns what was actually done (a failed dead-letter becomes a nak). */
  private async settle(
    spec: ConsumerSpec,
    msg: JsMsg,
    subject: string,
    decision: AckDecision,
    attempts: AttemptRecord[],
    parkPatientKey: string,
    patientKey: string,
  ): Promise<AckDecision> {
    const key = this.attemptKey(spec, msg);
    const { logger } = this.options;
    switch (decision.action) {
      case 'ack':
        msg.ack();
        // only a redelivered message can have recorded attempts: no KV round trip on the happy path
        if (msg.info.deliveryCount > 1) void this.attemptStore.remove(key);
        return decision;
      case 'nak':
        // recorded before the nak so the next delivery (any replica, after a restart) sees it
        await Promise.all([this.attemptStore.write(key, attempts), patientKey ? this.noteRetryHead(spec, msg.info.streamSequence, patientKey, decision.delayMs) : undefined]);
        msg.nak(decision.delayMs);
        logger.warn(
          {
            consumer: spec.durable,
            seq: msg.info.streamSequence,
            delivery: msg.info.deliveryCount,
            code: decision.code,
            kind: decision.kind,
            attempt: decision.attempt,
            delayMs: decision.delayMs,
          },
          decision.countsAgainstBudget ? 'handler failed; redelivery scheduled' : 'downstream unavailable; paused without consuming the budget',
        );
        return decision;
      case 'dead-letter':
        return this.deadLetter(spec, msg, subject, decision, key, attempts, parkPatientKey);
    }
  }

  private async deadLetter(
    spec: ConsumerSpec,
    msg: JsMsg,
    subject: string,
    decision: Extract<AckDecision, { action: 'dead-letter' }>,
    key: string,
    attempts: AttemptRecord[],
    parkPatientKey: string,
  ): Promise<AckDecision> {
    const { logger, naming } = this.options;
    try {
      const ack = await this.publishDeadLetter(spec, msg, subject, decision, attempts);
      // parked before the term: no later message of this patient can slip past its dead-lettered head
      if (parkPatientKey) {
        await this.parking.park({
          consumer: naming.durable(spec.durable),
          patientKey: parkPatientKey,
          headMessageId: msg.headers?.get(HEADERS.id) || '',
          headStream: msg.info.stream,
          headSeq: msg.info.streamSequence,
          dlqSeq: ack.seq,
          code: decision.code,
        });
      }
    } catch (err) {
      // The DLQ (or the park) did not confirm: keep the original (nak), never term it; keep its history.
      await this.attemptStore.write(key, attempts);
      const delayMs = backoffDelay(this.policiesFor(spec).classes.transient, msg.info.deliveryCount);
      msg.nak(delayMs);
      logger.error({ err: describe(err), consumer: spec.durable, seq: msg.info.streamSequence, delayMs }, 'dead-letter publish failed; message kept');
      return { action: 'nak', delayMs, errorClass: decision.errorClass, kind: decision.kind, code: decision.code, attempt: decision.attempt, countsAgainstBudget: false };
    }
    // plain term(): term(reason) is ignored by 2.9 and the message would come back after ack_wait
    msg.term();
    // nothing is stored for a first delivery: a purge would be a write for nothing
    if (msg.info.deliveryCount > 1) void this.attemptStore.remove(key);
    METRICS.deadLetters.labels(spec.durable, decision.code).inc();
    logger.error(
      {
        consumer: spec.durable,
        seq: msg.info.streamSequence,
        delivery: msg.info.deliveryCount,
        code: decision.code,
        kind: decision.kind,
        reason: decision.reason,
        parked: parkPatientKey !== '',
      },
      'message dead-lettered',
    );
    return decision;
  }

  /** Publishes the dead letter and resolves on the DLQ's PubAck; one letter per stream position (msg id). */
  private async publishDeadLetter(
    spec: ConsumerSpec,
    msg: DeadLetterSource,
    subject: string,
    error: Pick<Extract<AckDecision, { action: 'dead-letter' }>, 'errorClass' | 'kind' | 'code' | 'message' | 'reason'>,
    attempts: AttemptRecord[],
  ): Promise<PubAck> {
    const { service, serviceVersion } = this.options;
    const record = buildDeadLetter({
      msg,
      unprefixedSubject: subject,
      error,
      attempts,
      consumer: spec.durable,
      service,
      serviceVersion,
      traceId: currentTraceId(),
      now: new Date(),
    });
    return this.publisher.publishRaw({
      subject: deadLetterSubject(service, spec.durable),
      template: 'dlq.{service}.{consumer}',
      headers: {
        'ce-type': 'dlq.dead-letter.v1',
        'lifeline-dlq-error-code': error.code,
        'lifeline-dlq-consumer': spec.durable,
        // escalated letters are for the saga/operator to compensate, not just to replay
        ...(error.reason === 'escalate' ? { 'lifeline-dlq-disposition': 'escalate' } : {}),
        ...(record.patientKey ? { 'lifeline-patient-key': record.patientKey } : {}),
      },
      body: new TextEncoder().encode(JSON.stringify(record)),
      msgId: deadLetterMsgId(msg.info.stream, msg.info.streamSequence),
      expectStream: 'DLQ',
    });
  }

  /**
   * Our consumers use max_deliver -1 and dead-letter themselves; a consumer configured with a limit
   * (by hand, by NACK) makes the server give up on its own. Catch that through the MAX_DELIVERIES
   * advisory and dead-letter the referenced message so nothing ends outside the DLQ. One replica per
   * consumer handles it (queue group); the DLQ msg id makes a double publish harmless.
   */
  private watchMaxDeliveries(spec: ConsumerSpec): void {
    const { naming, nc, logger } = this.options;
    const stream = naming.stream(spec.stream);
    const durable = naming.durable(spec.durable);
    const sub = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${durable}`, {
      queue: `${durable}-advisories`,
      callback: (err, m) => {
        if (err) return;
        let advisory: { stream_seq?: number; deliveries?: number };
        try {
          advisory = m.json<{ stream_seq?: number; deliveries?: number }>();
        } catch {
          logger.warn({ consumer: spec.durable }, 'unreadable max-deliveries advisory');
          return;
        }
        if (typeof advisory.stream_seq !== 'number') return;
        const job = this.deadLetterAbandoned(spec, stream, advisory.stream_seq, advisory.deliveries ?? 0).finally(() => this.inFlight.delete(job));
        this.inFlight.add(job);
      },
    });
    this.advisorySubs.push(sub);
  }

  private async deadLetterAbandoned(spec: ConsumerSpec, stream: string, seq: number, deliveries: number): Promise<void> {
    const { naming, logger } = this.options;
    const key = AttemptStore.key(naming.durable(spec.durable), stream, seq);
    for (let attempt = 1; attempt <= 5 && !this.closing; attempt += 1) {
      try {
        const stored = await this.jsm?.streams.getMessage(stream, { seq });
        if (!stored) {
          logger.error({ consumer: spec.durable, seq }, 'max deliveries reached but the message is gone from the stream');
          return;
        }
        const history = (await this.attemptStore.read(key)) ?? [];
        const last = history.at(-1);
        const record: AttemptRecord = { at: new Date().toISOString(), deliveryCount: deliveries, code: 'MAX_DELIVERIES' };
        await this.publishDeadLetter(
          spec,
          { headers: stored.header, data: stored.data, info: { stream, streamSequence: seq } },
          naming.unprefix(stored.subject),
          {
            errorClass: 'unknown',
            kind: last?.kind ?? 'unknown',
            code: last?.code ?? 'MAX_DELIVERIES',
            message: `the server stopped redelivering after ${deliveries} deliveries (consumer max_deliver)`,
            reason: 'max-deliveries',
          },
          [...history, record],
        );
        void this.attemptStore.remove(key);
        METRICS.deadLetters.labels(spec.durable, 'MAX_DELIVERIES').inc();
        logger.error({ consumer: spec.durable, seq, deliveries }, 'message abandoned by the server (max deliveries) dead-lettered');
        return;
      } catch (err) {
        logger.warn({ err: describe(err), consumer: spec.durable, seq, attempt }, 'dead-lettering an abandoned message failed; retrying');
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
    // still stored in its stream (limits/work-queue retention): an operator can recover it by sequence
    logger.error({ consumer: spec.durable, seq }, 'abandoned message could not be dead-lettered');
  }

  override async handleEvent(pattern: string, packet: ReadPacket, context: JetStreamContext): Promise<void> {
    // Our patterns are plain subject strings: Nest's getHandlerByPattern first tries JSON.parse on
    // each one, and the SyntaxError it throws and catches cost ~3 % of a hop's CPU per message.
    const handler = this.messageHandlers.get(pattern) ?? null;
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
    for (const sub of this.advisorySubs) sub.unsubscribe();
    for (const loop of this.loops) {
      loop.running = false;
      if (loop.messages) this.stopPull(loop, loop.messages);
    }
    this.leases?.interrupt();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, this.options.drainTimeoutMs ?? 10_000);
    });
    // the loops (buffered messages handed back), the stopped pulls' expiry, the handlers
    await Promise.race([Promise.allSettled(this.loops.map((l) => l.finished)), deadline]);
    await Promise.race([Promise.allSettled([...this.catchers].map((c) => c.done)), deadline]);
    for (const c of [...this.catchers]) c.end();
    await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    clearTimeout(timer);
    await this.handOverExpected();
    // handlers done: a standby replica may take over now instead of after the TTL
    await Promise.allSettled(this.loops.map((l) => l.lease?.release()));
    this.leases?.close();
    this.parking.close();
    this.retryHeads?.close();
    // ack() is fire-and-forget: flush so the server has every settlement before we report closed
    if (!this.options.nc.isClosed()) await this.options.nc.flush().catch(() => undefined);
  }

  /**
   * Graceful stop: every message this process still expects back (held behind its patient, away for a
   * retry, handed back) is recorded for the next process before the lease goes. A delivery that reached
   * this process too late to be handed back returns only after ack wait; without this record the next
   * process would run that patient's later messages first. Bounded by the drain timeout.
   */
  private async handOverExpected(): Promise<void> {
    const store = this.retryHeads;
    if (!store || !this.orderingEnabled() || this.options.ordering?.handOverOnStop === false || this.options.nc.isClosed()) return;
    const writes: Array<() => Promise<void>> = [];
    for (const loop of this.loops) {
      const durable = this.options.naming.durable(loop.spec.durable);
      // any of them may have been delivered here up to now and be lost with this process: back by ack
      // wait after that (plus a pull's lifetime for a delivery still on its way), if not sooner
      const lostUntil = Date.now() + loop.spec.ackWaitMs + this.pullExpiresMs();
      for (const [patientKey, expected] of loop.gate.expected(lostUntil)) {
        const heads = expected.map((h) => ({ seq: h.seq, until: Math.max(h.until, lostUntil) }));
        writes.push(() => store.note(durable, patientKey, heads));
      }
    }
    let failed = 0;
    const deadline = Date.now() + (this.options.drainTimeoutMs ?? 10_000);
    // a few writes in flight: a stop during an outage may have thousands of patients waiting
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const write = writes.shift();
        if (!write) return;
        await write().catch(() => {
          failed += 1;
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    if (failed > 0 || writes.length > 0) {
      this.options.logger.warn({ failed, skipped: writes.length }, 'not every expected message was handed over; those patients rely on ack wait alone');
    }
  }

  /** For health: whether every consumer loop is pulling. */
  isConsuming(): boolean {
    return !this.closing && this.loops.length > 0 && this.loops.every((l) => l.running && (l.messages !== undefined || l.standby === true));
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

/** A nak with a delay on a raw (core) delivery: what JsMsg.nak(delay) sends. */
function nakRaw(m: Msg, delayMs: number): void {
  m.respond(new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`));
}
