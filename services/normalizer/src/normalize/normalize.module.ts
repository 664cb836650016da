import { Module } from '@nestjs/common';

import { NormalizeHandler } from './normalize.handler.js';
import { NormalizeRepository } from './normalize.repository.js';
import { NormalizeService } from './normalize.service.js';

@Module({ controllers: [NormalizeHandler], providers: [NormalizeService, NormalizeRepository] })
export class NormalizeModule {}
