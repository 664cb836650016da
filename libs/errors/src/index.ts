export { AppError, isAppError, assertUnreachable, describeError, errorKindOf, ERROR_KINDS } from './app-error.js';
export type { AppErrorOptions, ErrorKind } from './app-error.js';
