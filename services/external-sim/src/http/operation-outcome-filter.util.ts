import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import { Catch, HttpException, Logger } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';

import { describeError, isAppError } from '@lifeline/errors';

import { HTTP_EDGE_STATUS } from './http.errors.js';
import type { HttpEdgeErrorCode } from './http.errors.js';
import { operationOutcome } from './operation-outcome.util.js';
import type { IssueCode, OperationOutcome } from './operation-outcome.util.js';
import { sendJson } from './reply.util.js';

// Fixed texts per framework status: exception messages can quote the body (a JSON SyntaxError
// does), and the body may hold PHI.
const FRAMEWORK_ISSUES: Record<number, [IssueCode, string]> = {
  400: ['invalid', 'malformed request'],
  404: ['not-found', 'no such endpoint'],
  405: ['not-supported', 'method not allowed'],
  413: ['too-long', 'request body exceeds the 256kb limit'],
  415: ['not-supported', 'unsupported media type'],
};

/** The one HTTP error edge: every error leaves as an OperationOutcome (STYLE §6). */
@Catch()
export class OperationOutcomeFilter implements ExceptionFilter {
  private readonly logger = new Logger(OperationOutcomeFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { status, body } = this.map(exception);
    sendJson({ res, status, body });
  }

  private map(exception: unknown): { status: number; body: OperationOutcome } {
    if (isAppError<HttpEdgeErrorCode>(exception, 'REQUEST_INVALID')) {
      return {
        status: HTTP_EDGE_STATUS[exception.code],
        body: operationOutcome('invalid', exception.message),
      };
    }
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      const status = exception.getStatus();
      const [code, text] = FRAMEWORK_ISSUES[status] ?? [
        'invalid',
        'request rejected',
      ];
      const diagnostics =
        exception.cause instanceof SyntaxError ? 'malformed JSON body' : text;
      return { status, body: operationOutcome(code, diagnostics) };
    }
    const errorId = randomUUID();
    this.logger.error(
      { errorId, err: describeError(exception) },
      'unhandled error',
    );
    return {
      status: 500,
      body: { ...operationOutcome('exception', 'internal error'), errorId },
    };
  }
}
