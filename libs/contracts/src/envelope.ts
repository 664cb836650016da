import { randomUUID } from 'node:crypto';

/**
 * The CloudEvents-1.0-style envelope. Attributes travel as NATS headers (names below); the payload
 * (`data`) is the JSON body, validated against its versioned schema on both sides.
 */
export const HEADERS = {
  id: 'ce-id',
  type: 'ce-type',
  source: 'ce-source',
  time: 'ce-time',
  specversion: 'ce-specversion',
  msgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  correlationId: 'lifeline-correlation-id',
  causationId: 'lifeline-causation-id',
  patientKey: 'lifeline-patient-key',
  priority: 'lifeline-priority',
  idempotencyKey: 'lifeline-idempotency-key',
  // dead-letter context
  dlqErrorCode: 'lifeline-dlq-error-code',
  dlqConsumer: 'lifeline-dlq-consumer',
} as const;

export type Priority = 'routine' | 'stat';

export interface Envelope<T = unknown> {
  id: string;
  type: string;
  source: string;
  time: string;
  specversion: '1.0';
  correlationId: string;
  causationId?: string;
  patientKey?: string;
  priority: Priority;
  /** From business attributes (source system + business id + type + version), never transport metadata. */
  idempotencyKey: string;
  /** W3C trace context, filled by the observability carrier when sent. */
  traceparent?: string;
  tracestate?: string;
  data: T;
}

export interface NewEnvelope<T> {
  type: string;
  source: string;
  data: T;
  idempotencyKey: string;
  correlationId?: string;
  causationId?: string;
  patientKey?: string;
  priority?: Priority;
  id?: string;
  time?: Date;
}

export function newEnvelope<T>(input: NewEnvelope<T>): Envelope<T> {
  const id = input.id ?? randomUUID();
  return {
    id,
    type: input.type,
    source: input.source,
    time: (input.time ?? new Date()).toISOString(),
    specversion: '1.0',
    correlationId: input.correlationId ?? id,
    causationId: input.causationId,
    patientKey: input.patientKey,
    priority: input.priority ?? 'routine',
    idempotencyKey: input.idempotencyKey,
    data: input.data,
  };
}

/** A follow-up message: same correlation, caused by `cause`, same patient and priority by default. */
export function causedBy<T>(cause: Envelope<unknown>, input: Omit<NewEnvelope<T>, 'correlationId' | 'causationId'>): Envelope<T> {
  return newEnvelope({
    patientKey: cause.patientKey,
    priority: cause.priority,
    ...input,
    correlationId: cause.correlationId,
    causationId: cause.id,
  });
}

/** Envelope attributes → header map (the payload travels as the body). */
export function envelopeToHeaders(env: Envelope<unknown>): Record<string, string> {
  const h: Record<string, string> = {
    [HEADERS.id]: env.id,
    [HEADERS.type]: env.type,
    [HEADERS.source]: env.source,
    [HEADERS.time]: env.time,
    [HEADERS.specversion]: env.specversion,
    [HEADERS.correlationId]: env.correlationId,
    [HEADERS.priority]: env.priority,
    [HEADERS.idempotencyKey]: env.idempotencyKey,
  };
  if (env.causationId) h[HEADERS.causationId] = env.causationId;
  if (env.patientKey) h[HEADERS.patientKey] = env.patientKey;
  if (env.traceparent) h[HEADERS.traceparent] = env.traceparent;
  if (env.tracestate) h[HEADERS.tracestate] = env.tracestate;
  return h;
}

export type HeaderReader = (name: string) => string | undefined;

export class EnvelopeHeaderError extends Error {
  constructor(readonly missing: string[]) {
    super(`envelope headers missing: ${missing.join(', ')}`);
    this.name = 'EnvelopeHeaderError';
  }
}

/** Header map + decoded body → envelope. Throws EnvelopeHeaderError naming every missing header. */
export function envelopeFromHeaders<T>(read: HeaderReader, data: T): Envelope<T> {
  const required = [HEADERS.id, HEADERS.type, HEADERS.source, HEADERS.time, HEADERS.idempotencyKey] as const;
  const missing = required.filter((name) => !read(name));
  if (missing.length > 0) throw new EnvelopeHeaderError(missing);
  const priority = read(HEADERS.priority) === 'stat' ? 'stat' : 'routine';
  const id = read(HEADERS.id) as string;
  return {
    id,
    type: read(HEADERS.type) as string,
    source: read(HEADERS.source) as string,
    time: read(HEADERS.time) as string,
    specversion: '1.0',
    correlationId: read(HEADERS.correlationId) || id,
    causationId: read(HEADERS.causationId) || undefined,
    patientKey: read(HEADERS.patientKey) || undefined,
    priority,
    idempotencyKey: read(HEADERS.idempotencyKey) as string,
    traceparent: read(HEADERS.traceparent) || undefined,
    tracestate: read(HEADERS.tracestate) || undefined,
    data,
  };
}

/** Business idempotency key: source system + business id + event type (type carries the version). */
export function idempotencyKey(parts: { sourceSystem: string; businessId: string; type: string; discriminator?: string }): string {
  const base = `${parts.sourceSystem}|${parts.businessId}|${parts.type}`;
  return parts.discriminator ? `${base}|${parts.discriminator}` : base;
}
