import type { AddressInfo } from 'node:net';

import type { NestExpressApplication } from '@nestjs/platform-express';

import { loadExternalSimConfig } from '../config/external-sim.config.js';
import { createApp } from '../create-app.util.js';

export interface SimResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface SimHarness {
  app: NestExpressApplication;
  baseUrl: string;
  call(params: {
    method: string;
    path: string;
    body?: unknown;
    rawBody?: string;
    idempotencyKey?: string;
    signal?: AbortSignal;
  }): Promise<SimResponse>;
  close(): Promise<void>;
}

/** Starts the real app on a free loopback port; callers talk to it with fetch only. */
export async function startSim(
  env: Record<string, string> = {},
): Promise<SimHarness> {
  const config = loadExternalSimConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await createApp({ config, logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  let closed = false;

  return {
    app,
    baseUrl,
    async call({ method, path, body, rawBody, idempotencyKey, signal }) {
      const headers: Record<string, string> = {};
      if (body !== undefined || rawBody !== undefined)
        headers['content-type'] = 'application/json';
      if (idempotencyKey !== undefined)
        headers['idempotency-key'] = idempotencyKey;
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body:
          rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal,
      });
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        body: text === '' ? null : JSON.parse(text),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}
