import { AppError, assertUnreachable } from '@lifeline/errors';

export type HttpEdgeErrorCode = 'REQUEST_INVALID';

export const HTTP_EDGE_STATUS: Record<HttpEdgeErrorCode, number> = {
  REQUEST_INVALID: 400,
};

export function httpEdgeMessage(code: HttpEdgeErrorCode): string {
  switch (code) {
    case 'REQUEST_INVALID':
      return 'invalid request';
    default:
      return assertUnreachable(code);
  }
}

export function requestInvalid(detail: string): AppError<HttpEdgeErrorCode> {
  return new AppError<HttpEdgeErrorCode>({
    code: 'REQUEST_INVALID',
    retryable: false,
    message: `${httpEdgeMessage('REQUEST_INVALID')}: ${detail}`,
  });
}
