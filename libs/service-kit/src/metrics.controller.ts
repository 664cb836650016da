import { Controller, Get, Header } from '@nestjs/common';

import { registry } from '@lifeline/observability';

@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4')
  async metrics(): Promise<string> {
    return registry.metrics();
  }
}
