import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { LabConfig } from './config/lab.config.js';
import { CreateLabTables1764000000500 } from './migrations/1764000000500-lab.migration.js';

export function labDatabase(config: LabConfig): DatabaseDefinition {
  return {
    url: config.db.url,
    poolSize: config.db.poolSize,
    migrations: [CreateLabTables1764000000500],
  };
}
