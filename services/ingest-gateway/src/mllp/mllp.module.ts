import { Module } from '@nestjs/common';

import { MllpIngestService } from './mllp-ingest.service.js';

@Module({ providers: [MllpIngestService], exports: [MllpIngestService] })
export class MllpModule {}
