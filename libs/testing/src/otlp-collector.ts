import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type SpanAttributeValue = string | number | boolean;

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a root span. */
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** Resource attribute `service.name`. */
  serviceName: string;
  /** Arrays and maps are JSON strings; int64 values are numbers. */
  attributes: Record<string, SpanAttributeValue>;
  links: { traceId: string; spanId: string; attributes: Record<string, SpanAttributeValue> }[];
}

export interface OtlpSpanCollector {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces); use protocol http/json. */
  readonly endpoint: string;
  /** Spans received so far, in arrival order. */
  spans(): CollectedSpan[];
  /** Forgets the spans received so far. */
  clear(): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

/**
 * A stand-in OTLP/HTTP collector: accepts JSON POSTs on /v1/traces (and ignores /v1/metrics and
 * /v1/logs), answers 200 `{}` and keeps the spans flattened, so tests can assert on traces.
 */
export async function collectOtlpSpans(): Promise<OtlpSpanCollector> {
  const received: CollectedSpan[] = [];
  const server = createServer((req, res) => {
    handle(req, res, received).catch((err: unknown) => reply(res, 400, { error: String(err) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    clear: () => {
      received.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, into: CollectedSpan[]): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method !== 'POST' || !['/v1/traces', '/v1/metrics', '/v1/logs'].includes(path ?? '')) {
    return reply(res, 404, { error: 'POST /v1/traces only' });
  }
  if (!(req.headers['content-type'] ?? '').includes('json')) {
    return reply(res, 415, { error: 'only OTLP/HTTP JSON: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json' });
  }
  let body = await readBody(req);
  if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
  const payload = JSON.parse(body.toString('utf8')) as unknown;
  if (path === '/v1/traces') into.push(...flattenTraces(payload));
  reply(res, 200, {});
}

function flattenTraces(payload: unknown): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const resourceSpans of array(record(payload).resourceSpans)) {
    const resource = attributes(record(record(resourceSpans).resource).attributes);
    const serviceName = String(resource['service.name'] ?? 'unknown');
    for (const scopeSpans of array(record(resourceSpans).scopeSpans)) {
      for (const raw of array(record(scopeSpans).spans)) {
        const span = record(raw);
        const parent = id(span.parentSpanId);
        spans.push({
          traceId: id(span.traceId),
          spanId: id(span.spanId),
          ...(parent === '' ? {} : { parentSpanId: parent }),
          name: String(span.name ?? ''),
          kind: Number(span.kind ?? 0),
          serviceName,
          attributes: attributes(span.attributes),
          links: array(span.links).map((l) => ({
            traceId: id(record(l).traceId),
            spanId: id(record(l).spanId),
            attributes: attributes(record(l).attributes),
          })),
        });
      }
    }
  }
  return spans;
}

function attributes(list: unknown): Record<string, SpanAttributeValue> {
  const out: Record<string, SpanAttributeValue> = {};
  for (const entry of array(list)) {
    const { key, value } = record(entry);
    if (typeof key === 'string') out[key] = anyValue(record(value));
  }
  return out;
}

function anyValue(value: Json): SpanAttributeValue {
  if (typeof value.stringValue === 'string') return value.stringValue;
  if (typeof value.boolValue === 'boolean') return value.boolValue;
  // int64 arrives as a JSON string (proto3 JSON mapping) or a number
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.arrayValue !== undefined) return JSON.stringify(array(record(value.arrayValue).values).map((v) => anyValue(record(v))));
  if (value.kvlistValue !== undefined) return JSON.stringify(attributes(record(value.kvlistValue).values));
  return '';
}

/** OTLP/HTTP JSON ids are hex; tolerate base64 (plain proto3 JSON) too. */
function id(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  if (/^[0-9a-f]+$/i.test(value) && (value.length === 32 || value.length === 16)) return value.toLowerCase();
  return Buffer.from(value, 'base64').toString('hex');
}

function record(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: Json): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
