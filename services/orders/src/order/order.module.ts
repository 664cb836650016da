import { Module } from '@nestjs/common';

import { OrderController } from './order.controller.js';
import { OrderHandler } from './order.handler.js';
import { OrderRepository } from './order.repository.js';
import { OrderService } from './order.service.js';

@Module({ controllers: [OrderController, OrderHandler], providers: [OrderService, OrderRepository] })
export class OrderModule {}
