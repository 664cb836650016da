import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { NormalizerConfig } from './config/normalizer.config.js';
import { CreateNormalizerTables1764000000300 } from './migrations/1764000000300-normalizer.migration.js';

export function normalizerDatabase(config: NormalizerConfig): DatabaseDefinition {
  return { url: config.db.url, poolSize: config.db.poolSize, migrations: [CreateNormalizerTables1764000000300] };
}
