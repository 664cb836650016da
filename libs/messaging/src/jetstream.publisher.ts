import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';

import { HEADERS, isStatLane, laneStream, laneSubject, type Envelope, type Naming } from '@lifeline/contracts';
import { ATTR, METRICS, MESSAGING_SYSTEM, SpanKind, extractTraceContext, inSpan, injectTraceContext, type Context } from '@lifeline/observability';

import { encodeEnvelope, toNatsHeaders } from './header-codec.js';

export interface RawPublish {
  /** Unprefixed subject. */
  subject: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Nats-Msg-Id: the broker drops a second publish with this id inside its duplicate window. */
  msgId: string;
  /** Unprefixed stream name the subject must land in (guards against a mis-routed subject). */
  expectStream?: string;
  /** Parent trace context (e.g. stored in an outbox row); defaults to the active context. */
  parent?: Context;
  /** Stable subject template for span names (defaults to the subject). */
  template?: string;
  /**
   * `false`: no `send` span of its own; the message carries the trace context already in `headers`
   * (its creation context). The outbox relay's batch mode: one span per batch links the messages.
   */
  span?: boolean;
}

/**
 * Publishes to JetStream and resolves with the PubAck (the durable-store confirmation). Each publish is
 * a `send` PRODUCER span; its context rides in the headers so the consumer's span is its child.
 */
export class JetStreamPublisher {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly naming: Naming,
    private readonly timeoutMs = 5_000,
  ) {
    this.js = jetstream(nc, { timeout: timeoutMs });
  }

  /**
   * The subject is chosen by the message's priority: a `lifeline-priority: stat` message goes to the
   * stat lane of its subject (contracts/lanes.ts), whoever publishes it (outbox relay or direct).
   */
  async publishRaw(msg: RawPublish): Promise<PubAck> {
    const laned = laneSubject(msg.subject, msg.headers[HEADERS.priority]);
    if (msg.span === false) return this.send(laned, msg, msg.headers);
    const parent = msg.parent ?? extractTraceContext(msg.headers);
    return inSpan(
      {
        name: `send ${msg.template ?? msg.subject}`,
        kind: SpanKind.PRODUCER,
        parent,
        attributes: {
          [ATTR.messagingSystem]: MESSAGING_SYSTEM,
          [ATTR.messagingOperationType]: 'send',
          [ATTR.messagingDestinationName]: laned,
          [ATTR.messagingMessageId]: msg.msgId,
        },
      },
      async (span) => {
        const headers = { ...msg.headers };
        delete headers.traceparent;
        delete headers.tracestate;
        injectTraceContext(headers);
        const ack = await this.send(laned, msg, headers);
        span.setAttribute(ATTR.natsSequence, ack.seq);
        span.setAttribute(ATTR.duplicate, ack.duplicate);
        return ack;
      },
    );
  }

  private async send(laned: string, msg: RawPublish, headers: Record<string, string>): Promise<PubAck> {
    const ack = await this.js.publish(this.naming.subject(laned), msg.body, {
      msgID: msg.msgId,
      headers: toNatsHeaders(headers),
      // a stat-lane subject is stored in its stream's stat twin (contracts topology)
      expect: msg.expectStream ? { streamName: this.naming.stream(isStatLane(laned) ? laneStream(msg.expectStream, 'stat') : msg.expectStream) } : undefined,
      timeout: this.timeoutMs,
    });
    METRICS.published.labels(ack.stream, String(ack.duplicate)).inc();
    return ack;
  }

  /** Publishes an envelope on its type's subject with Nats-Msg-Id = envelope id. */
  async publishEnvelope(env: Envelope<unknown>, opts: { subject?: string; expectStream?: string } = {}): Promise<PubAck> {
    const { headers, body } = encodeEnvelope(env);
    headers[HEADERS.msgId] = env.id;
    return this.publishRaw({ subject: opts.subject ?? env.type, headers, body, msgId: env.id, expectStream: opts.expectStream });
  }
}
