import { pino, type Logger, type LoggerOptions } from 'pino';

import { currentTraceId } from './trace-context.js';
import { trace, context } from '@opentelemetry/api';

/**
 * Paths that may hold PHI or secrets are removed from every log line. We log ids, types, codes and
 * hashes only; this is the safety net, not the policy.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'payload',
  'body',
  'data',
  'hl7',
  'message.raw',
  'patient.identifier',
  '*.patient.identifier',
];

export function loggerOptions(params: { service: string; level: string }): LoggerOptions {
  return {
    level: params.level,
    base: { service: params.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, remove: true },
    formatters: { level: (label) => ({ level: label }) },
    // trace ids on every line, so a log line leads to its Jaeger trace
    mixin() {
      const span = trace.getSpan(context.active());
      const traceId = currentTraceId();
      return traceId ? { trace_id: traceId, span_id: span?.spanContext().spanId } : {};
    },
  };
}

/** A pino logger writing asynchronously to stdout (no synchronous writes on the message path). */
export function createLogger(params: { service: string; level: string }): Logger {
  return pino(loggerOptions(params), pino.destination({ sync: false }));
}

export type { Logger };
