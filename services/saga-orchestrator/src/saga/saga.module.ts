import { Module, type DynamicModule } from '@nestjs/common';

import { LabOrderHandler } from './lab-order/lab-order.handler.js';
import { LabOrderSagaRunner } from './lab-order/lab-order.saga-runner.js';
import { SagaDeadlineService } from './lab-order/saga-deadline.service.js';
import { SagaInstanceRepository } from './saga-instance.repository.js';
import { SagaMetricsService } from './saga-metrics.service.js';
import { SAGA_OPTIONS, type SagaOptions } from './saga-options.util.js';
import { SagaController } from './saga.controller.js';
import { SagaService } from './saga.service.js';

@Module({})
export class SagaModule {
  static register(options: SagaOptions): DynamicModule {
    return {
      module: SagaModule,
      controllers: [SagaController, LabOrderHandler],
      providers: [
        { provide: SAGA_OPTIONS, useValue: options },
        SagaInstanceRepository,
        LabOrderSagaRunner,
        SagaDeadlineService,
        SagaMetricsService,
        SagaService,
      ],
    };
  }
}
