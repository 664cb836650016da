import { BaseRpcContext, EventPattern } from '@nestjs/microservices';
import type { JsMsg } from '@nats-io/jetstream';

import type { ConsumerSpec, Envelope } from '@lifeline/contracts';

/** What a handler may read about the delivery besides the envelope (`@Ctx() ctx: JetStreamContext`). */
/** Whether the transport would dead-letter this error if the handler threw it now. */
export type FinalFailureCheck = (error: unknown) => Promise<boolean>;

export class JetStreamContext extends BaseRpcContext<[JsMsg, Envelope<unknown>, ConsumerSpec, string, FinalFailureCheck?]> {
  get message(): JsMsg {
    return this.args[0];
  }
  get envelope(): Envelope<unknown> {
    return this.args[1];
  }
  get consumer(): ConsumerSpec {
    return this.args[2];
  }
  /** The consumer's durable name as provisioned (with the prefix): the inbox key's consumer part. */
  get durable(): string {
    return this.args[3];
  }
  /**
   * True when throwing `error` now would dead-letter the message: its kind's budget is spent (counted
   * from the attempt history, so breaker pauses and held deliveries do not count) or the kind is never
   * retried. Handlers that must answer instead of dead-lettering (a failed compensation) ask this.
   */
  async wouldDeadLetter(error: unknown): Promise<boolean> {
    const check = this.args[4];
    return check ? check(error) : this.deliveryCount >= this.consumer.maxAttempts;
  }

  get deliveryCount(): number {
    return this.args[0].info.deliveryCount;
  }
  /** Unprefixed subject the message was published on. */
  get subject(): string {
    return this.args[1].type;
  }
}

/**
 * `@EventPattern` for a JetStream consumer's filter subject. Nest 12 types `EventPattern(string)` with
 * an event map whose payload is `{}`; our payload is the decoded envelope, validated by the transport.
 */
export const ConsumeEvent = (filterSubject: string): MethodDecorator =>
  EventPattern(filterSubject) as unknown as MethodDecorator;
