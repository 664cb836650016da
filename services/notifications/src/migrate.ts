import { runServiceMigrations } from '@lifeline/service-kit';

import { loadNotificationsConfig } from './config/notifications.config.js';
import { notificationsDatabase } from './database.js';

await runServiceMigrations(
  'notifications',
  notificationsDatabase(loadNotificationsConfig()),
);
