import { z } from 'zod';

/** Environment keys every Lifeline service reads; services extend this shape. */
export const COMMON_ENV = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  SERVICE_VERSION: z.string().default('0.1.0'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HTTP_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** Prefix for streams, subjects and durables; empty in production, unique per test run. */
  NATS_PREFIX: z.string().regex(/^[a-z0-9_-]*$/).default(''),
};

export const DATABASE_ENV = {
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
};

export interface CommonConfig {
  env: 'development' | 'test' | 'production';
  version: string;
  http: { port: number; host: string };
  log: { level: string };
  nats: { url: string; prefix: string };
}

export function mapCommon(env: {
  NODE_ENV: 'development' | 'test' | 'production';
  SERVICE_VERSION: string;
  HTTP_PORT: number;
  HTTP_HOST: string;
  LOG_LEVEL: string;
  NATS_URL: string;
  NATS_PREFIX: string;
}): CommonConfig {
  return {
    env: env.NODE_ENV,
    version: env.SERVICE_VERSION,
    http: { port: env.HTTP_PORT, host: env.HTTP_HOST },
    log: { level: env.LOG_LEVEL },
    nats: { url: env.NATS_URL, prefix: env.NATS_PREFIX },
  };
}
