import type { IncomingMessage, ServerResponse } from 'node:http';

import type { JsonBody, Outcome } from '../exchange/exchange.dto.js';
import type { LifecycleService } from '../lifecycle/lifecycle.service.js';

export function sendJson(params: {
  res: ServerResponse;
  status: number;
  body: JsonBody;
  headers?: Record<string, string>;
}): void {
  const { res, status, body, headers = {} } = params;
  const payload = JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers))
    res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.end(payload);
}

/** Writes what the exchange decided; `hold` leaves the socket open on purpose. */
export function sendOutcome(
  res: ServerResponse,
  outcome: Outcome,
  lifecycle: LifecycleService,
): void {
  switch (outcome.kind) {
    case 'reply':
      sendJson({
        res,
        status: outcome.status,
        body: outcome.body,
        headers: outcome.headers,
      });
      return;
    case 'hold':
      lifecycle.hold(res);
      return;
    case 'drop':
      res.destroy();
      return;
  }
}

/** Path without the query string: what requests are recorded and faults matched by. */
export function requestPath(
  req: IncomingMessage & { originalUrl?: string },
): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}

export function headerValue(
  value: string | string[] | undefined,
): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
