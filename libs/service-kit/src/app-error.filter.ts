import { Catch, HttpException, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { throwError, type Observable } from 'rxjs';

import { isAppError } from '@lifeline/errors';
import type { Logger } from '@lifeline/observability';

/** Error code → HTTP status, at the edge only. Services register their own codes on top. */
export type StatusTable = Record<string, number>;

/**
 * One filter for every HTTP error: AppErrors map through the table, Nest's HttpExceptions keep their
 * status, anything else is a 500 with an errorId that is logged (without the message: it may echo input).
 * Bodies are FHIR OperationOutcome-shaped so integration engineers get one error format.
 */
@Catch()
export class AppErrorHttpFilter implements ExceptionFilter {
  constructor(
    private readonly table: StatusTable,
    private readonly logger: Logger,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // In a JetStream handler the transport maps the original error to ack/nak/dead-letter itself.
    if (host.getType() === 'rpc') return throwError(() => exception);
    const res = host.switchToHttp().getResponse<Response>();
    if (isAppError(exception)) {
      const status = this.table[exception.code] ?? (exception.retryable ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.UNPROCESSABLE_ENTITY);
      res.status(status).json(outcome('error', exception.code, exception.message));
      return;
    }
    if (exception instanceof HttpException) {
      res.status(exception.getStatus()).json(outcome('error', `HTTP_${exception.getStatus()}`, exception.message));
      return;
    }
    const errorId = randomUUID();
    this.logger.error({ errorId, err: { name: (exception as Error)?.name } }, 'unhandled HTTP error');
    res.status(HttpStatus.INTERNAL_SERVER_ERROR).json({ ...outcome('fatal', 'INTERNAL', 'internal error'), errorId });
  }
}

function outcome(severity: 'error' | 'fatal', code: string, diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code: 'processing', details: { coding: [{ system: 'urn:lifeline:error-code', code }] }, diagnostics }],
  };
}
