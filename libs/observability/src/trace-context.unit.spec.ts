import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { context, propagation, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

import { extractTraceContext, injectTraceContext, type HeaderSource } from './trace-context.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A header source that counts full scans (keys()), as nats.js headers would pay for them. */
function countingSource(map: Record<string, string>): HeaderSource & { scans: number } {
  const src = {
    scans: 0,
    get: (k: string) => map[k] || undefined,
    keys: () => {
      src.scans += 1;
      return Object.keys(map);
    },
  };
  return src;
}

describe('trace context carrier', () => {
  beforeAll(() => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    propagation.disable();
  });

  it('extracts a lower-case traceparent without scanning the headers for the absent tracestate', () => {
    const src = countingSource({ 'ce-id': 'x', 'ce-type': 't', traceparent: TRACEPARENT });
    const span = trace.getSpanContext(extractTraceContext(src));
    expect(span?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(src.scans).toBe(0);
  });

  it('still reads trace headers a foreign publisher wrote in another case', () => {
    const src = countingSource({ Traceparent: TRACEPARENT, TraceState: 'vendor=1' });
    const ctx = extractTraceContext(src);
    expect(trace.getSpanContext(ctx)?.spanId).toBe('b7ad6b7169203331');
    expect(trace.getSpanContext(ctx)?.traceState?.get('vendor')).toBe('1');
  });

  it('round-trips through a plain record (an outbox row) with lower-case keys', () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
    const headers = injectTraceContext({}, parent);
    expect(headers).toEqual({ traceparent: TRACEPARENT });
    expect(trace.getSpanContext(extractTraceContext(headers))?.spanId).toBe('b7ad6b7169203331');
    expect(context.active()).toBe(ROOT_CONTEXT);
  });
});
