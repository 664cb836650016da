export { AppError, isAppError, assertUnreachable, describeError } from './app-error.js';
export type { AppErrorOptions } from './app-error.js';
