import { Module } from '@nestjs/common';

import { NotificationController } from './notification.controller.js';
import { NotificationHandler } from './notification.handler.js';
import { NotificationRepository } from './notification.repository.js';
import { NotificationService } from './notification.service.js';

// EhrClient comes from the global EhrModule (app.module).
@Module({
  controllers: [NotificationController, NotificationHandler],
  providers: [NotificationService, NotificationRepository],
})
export class NotificationModule {}
