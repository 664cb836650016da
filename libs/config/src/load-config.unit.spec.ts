import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';

import { isAppError } from '@lifeline/errors';

import { COMMON_ENV, DATABASE_ENV, mapCommon } from './common.js';
import { loadConfig } from './load-config.js';

const schema = z.object({ ...COMMON_ENV, ...DATABASE_ENV });

describe('loadConfig', () => {
  it('maps a valid environment to a typed nested object with defaults', () => {
    const cfg = loadConfig({
      service: 'svc',
      schema,
      map: (e) => ({ ...mapCommon(e), db: { url: e.DATABASE_URL } }),
      env: { DATABASE_URL: 'postgres://x@127.0.0.1/db', HTTP_PORT: '4000' },
    });
    expect(cfg.http.port).toBe(4000);
    expect(cfg.nats.url).toBe('nats://127.0.0.1:4222');
    expect(cfg.db.url).toBe('postgres://x@127.0.0.1/db');
  });

  it('fails at once naming every bad key and none of their values', () => {
    let caught: unknown;
    try {
      loadConfig({ service: 'svc', schema, map: (e) => e, env: { DATABASE_URL: 'mysql://secret-pw@h/db', HTTP_PORT: 'abc', NATS_PREFIX: 'A.B' } });
    } catch (err) {
      caught = err;
    }
    expect(isAppError(caught, 'CONFIG_INVALID')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('HTTP_PORT');
    expect(message).toContain('NATS_PREFIX');
    expect(message).not.toContain('secret-pw');
  });
});
