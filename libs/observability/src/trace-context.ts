import {
  context,
  propagation,
  trace,
  type Context,
  type Link,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';

/**
 * W3C trace context in NATS headers and outbox rows. Nothing instruments @nats-io v3, so this is our
 * own carrier: keys are written lower-case (`traceparent`, `tracestate`) and read case-insensitively,
 * and the empty string (what nats.js returns for a missing header) means "absent".
 */
type Carrier = Record<string, string>;

const setter: TextMapSetter<Carrier> = {
  set: (carrier, key, value) => {
    carrier[key.toLowerCase()] = value;
  },
};

export interface HeaderSource {
  get(key: string): string | undefined;
  keys(): string[];
}

const getter: TextMapGetter<HeaderSource> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => {
    const direct = carrier.get(key);
    if (direct) return direct;
    // a carrier holding `traceparent` under its lower-case name was written lower-case (as ours always
    // is), so a miss is a miss: no scan of every header for `tracestate`, absent from nearly every message
    if (key !== 'traceparent' && carrier.get('traceparent')) return undefined;
    const match = carrier.keys().find((k) => k.toLowerCase() === key.toLowerCase());
    const value = match === undefined ? undefined : carrier.get(match);
    return value === '' ? undefined : value;
  },
};

/** Writes the active (or given) context's traceparent/tracestate into `headers`. */
export function injectTraceContext(headers: Carrier, ctx: Context = context.active()): Carrier {
  propagation.inject(ctx, headers, setter);
  return headers;
}

/** Context carried by a header source (NATS headers, an outbox row), on top of ROOT. */
export function extractTraceContext(source: HeaderSource | Carrier): Context {
  const src: HeaderSource = isHeaderSource(source)
    ? source
    : { get: (k) => source[k], keys: () => Object.keys(source) };
  return propagation.extract(context.active(), src, getter);
}

/**
 * A link to the span context a header source carries (a message's creation context), or undefined
 * when it carries none: what a batch span points at for each message it handled.
 */
export function traceLinkFrom(source: HeaderSource | Carrier): Link | undefined {
  const spanContext = trace.getSpanContext(extractTraceContext(source));
  return spanContext && trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
}

function isHeaderSource(s: HeaderSource | Carrier): s is HeaderSource {
  return typeof (s as HeaderSource).get === 'function' && typeof (s as HeaderSource).keys === 'function';
}

/** The active span's trace id, or undefined outside a sampled span. */
export function currentTraceId(): string | undefined {
  const span = trace.getSpan(context.active());
  const id = span?.spanContext().traceId;
  return id && id !== '00000000000000000000000000000000' ? id : undefined;
}
