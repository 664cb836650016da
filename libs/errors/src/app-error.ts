/**
 * The one error type of Lifeline. `code` says what went wrong (a string-literal union per feature),
 * `retryable` says whether trying again later may succeed; transports map both at their edges.
 * Messages never contain PHI: put ids and hashes in `details`, never names or payload text.
 */
/**
 * Why an operation failed, finer than `retryable`: transports map each kind to a retry action
 * through configuration (libs/messaging retry policies). Omitted → derived from `retryable`.
 */
export const ERROR_KINDS = [
  'transient',
  'throttled',
  'downstream-unavailable',
  'validation',
  'poison',
  'unauthorized',
  'unknown',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface AppErrorOptions<C extends string = string> {
  code: C;
  message: string;
  retryable: boolean;
  /** Finer classification; without it `retryable: true` means transient and `false` validation. */
  kind?: ErrorKind;
  cause?: unknown;
  details?: Record<string, string | number | boolean | null>;
}

// Marker survives duplicate copies of this package (no reliance on instanceof across bundles).
const APP_ERROR = Symbol.for('lifeline.app-error');

export class AppError<C extends string = string> extends Error {
  readonly [APP_ERROR] = true;
  readonly code: C;
  readonly retryable: boolean;
  readonly kind?: ErrorKind;
  readonly details: Record<string, string | number | boolean | null>;

  constructor(options: AppErrorOptions<C>) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = options.code;
    this.retryable = options.retryable;
    if (options.kind !== undefined) this.kind = options.kind;
    this.details = options.details ?? {};
  }
}

export function isAppError<C extends string = string>(err: unknown, code?: C): err is AppError<C> {
  if (typeof err !== 'object' || err === null) return false;
  if ((err as Record<symbol, unknown>)[APP_ERROR] !== true) return false;
  return code === undefined || (err as AppError).code === code;
}

export function assertUnreachable(value: never): never {
  throw new Error(`unreachable: ${String(value)}`);
}

/** A short, PHI-free description of any thrown value, for logs and dead letters. */
export function describeError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (isAppError(err)) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof Error) return { code: 'UNKNOWN', message: err.name, retryable: true };
  return { code: 'UNKNOWN', message: typeof err, retryable: true };
}

/**
 * The error kind a transport acts on: an AppError's explicit `kind`, else transient when retryable and
 * validation when not; anything that is not an AppError is unknown (a bug or an unmapped library error).
 */
export function errorKindOf(err: unknown): ErrorKind {
  if (!isAppError(err)) return 'unknown';
  if (err.kind !== undefined) return err.kind;
  return err.retryable ? 'transient' : 'validation';
}
