import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';

const TRACER = 'lifeline';

export function tracer() {
  return trace.getTracer(TRACER);
}

/**
 * Runs `fn` inside a new active span and ends it; the span records the error code (never the message,
 * which could echo input) and rethrows. `parent` defaults to the active context.
 */
export async function inSpan<T>(
  params: { name: string; kind?: SpanKind; attributes?: Attributes; parent?: Context; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = params.parent ?? context.active();
  const span = tracer().startSpan(
    params.name,
    { kind: params.kind ?? SpanKind.INTERNAL, attributes: params.attributes, links: params.links },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'UNKNOWN';
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      span.setAttribute('lifeline.error.code', code);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * `fn` bound to the context active now: wherever it is later called (a batch run by another message's
 * task), its spans, injected trace headers and currentTraceId() are this caller's.
 */
export function bindActiveContext<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return context.bind(context.active(), fn);
}

export { ROOT_CONTEXT, SpanKind, SpanStatusCode };
export type { Span, Context, Link, Attributes };
