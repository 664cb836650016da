import { Controller, Get } from '@nestjs/common';

// The sim has no dependencies: once it listens, it is live and ready.
@Controller('health')
export class HealthController {
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
