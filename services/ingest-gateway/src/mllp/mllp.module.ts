import { Module } from '@nestjs/common';

import { MllpAckStore } from './mllp-ack.store.js';
import { MllpIngestService } from './mllp-ingest.service.js';

@Module({ providers: [MllpAckStore, MllpIngestService], exports: [MllpIngestService] })
export class MllpModule {}
