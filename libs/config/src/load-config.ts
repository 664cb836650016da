import type { z } from 'zod';

import { AppError } from '@lifeline/errors';

export type ConfigErrorCode = 'CONFIG_INVALID';

/**
 * Validates an environment against a zod schema and maps it to a typed, nested config object.
 * Fails with every bad key named (never their values: a value may be a secret).
 */
export function loadConfig<S extends z.ZodType, T>(params: {
  service: string;
  schema: S;
  map: (env: z.infer<S>) => T;
  env?: Record<string, string | undefined>;
}): T {
  const env = params.env ?? process.env;
  const result = params.schema.safeParse(env);
  if (!result.success) {
    const keys = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new AppError<ConfigErrorCode>({
      code: 'CONFIG_INVALID',
      retryable: false,
      message: `${params.service}: invalid configuration: ${keys.join('; ')}`,
      details: { keys: result.error.issues.map((i) => i.path.join('.')).join(',') },
    });
  }
  return params.map(result.data);
}

/** Comma-separated env value → trimmed non-empty strings. */
export function csv(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
