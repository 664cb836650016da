import type { LoggerService } from '@nestjs/common';
import type { Logger as Pino } from 'pino';

type PinoLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Routes Nest's own logging to pino as JSON. Nest's `log` level (module and route banners) goes
 * to `debug`, so that at `info` the sim prints only its one start line.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  // Nest appends the context name as the last parameter; a string before it is the message.
  private write(level: PinoLevel, message: unknown, params: unknown[]): void {
    const last = params.at(-1);
    const context = typeof last === 'string' ? last : undefined;
    const text =
      params.length >= 2 && typeof params[0] === 'string'
        ? params[0]
        : undefined;
    if (typeof message === 'object' && message !== null) {
      this.pino[level]({ context, ...message }, text);
    } else {
      this.pino[level]({ context }, String(message));
    }
  }
}
