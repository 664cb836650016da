import { runServiceMigrations } from '@lifeline/service-kit';

import { loadNormalizerConfig } from './config/normalizer.config.js';
import { normalizerDatabase } from './database.js';

await runServiceMigrations('normalizer', normalizerDatabase(loadNormalizerConfig()));
