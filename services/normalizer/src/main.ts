import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadNormalizerConfig } from './config/normalizer.config.js';

const config = loadNormalizerConfig();
const logger = createLogger({ service: 'normalizer', level: config.log.level });

await bootstrapService({ service: 'normalizer', module: AppModule.forRoot(config, logger), logger, http: config.http, consumes: true });
