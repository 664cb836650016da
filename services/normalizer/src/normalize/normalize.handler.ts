import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import { routineDurable, type Envelope } from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { NormalizeService } from './normalize.service.js';

@Controller()
export class NormalizeHandler {
  constructor(private readonly normalizer: NormalizeService) {}

  /**
   * Raw HL7 v2 from both lanes (`ingest.hl7v2.>` in INGEST, its stat twin `stat.ingest.hl7v2.>` in
   * INGEST_STAT); the body arrives as bytes, the gateway's HL7 facts as headers. Nothing here reads the
   * lane: the type is `ce-type`, and each event's priority comes from the mapper.
   */
  @ConsumeEvent('ingest.hl7v2.>')
  async onRawHl7(@Payload() env: Envelope<Buffer>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const h = ctx.message.headers;
    const header = (k: string): string | undefined => h?.get(k) || undefined;
    await this.normalizer.normalize({
      envelope: env,
      // The inbox key uses the routine durable's name on both lanes: a message is mapped once whichever
      // lane delivered it (a resend classified differently by a newer gateway, a replay onto the
      // routine subject).
      consumer: routineDurable(ctx.durable),
      sequence: ctx.message.info.streamSequence,
      meta: {
        sendingApplication: header('lifeline-hl7-sending-application'),
        sendingFacility: header('lifeline-hl7-sending-facility'),
        controlId: header('lifeline-hl7-control-id'),
        messageType: header('lifeline-hl7-message-type'),
        sha256: header('lifeline-hl7-sha256') ?? '',
      },
    });
  }
}

