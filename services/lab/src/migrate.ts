import { runServiceMigrations } from '@lifeline/service-kit';

import { loadLabConfig } from './config/lab.config.js';
import { labDatabase } from './database.js';

await runServiceMigrations('lab', labDatabase(loadLabConfig()));
