import { afterEach, describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';

import { collectOtlpSpans, type OtlpSpanCollector } from './otlp-collector.js';

const TRACE = '5b8efff798038103d269b633813fc60c';

function exportBody(): unknown {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'orders' } }] },
        scopeSpans: [
          {
            scope: { name: '@lifeline/messaging' },
            spans: [
              {
                traceId: TRACE,
                spanId: 'eee19b7ec3c1b174',
                parentSpanId: '',
                name: 'clinical.order.placed.v1 process',
                kind: 5,
                attributes: [
                  { key: 'messaging.system', value: { stringValue: 'nats' } },
                  { key: 'messaging.message.body.size', value: { intValue: '512' } },
                  { key: 'lifeline.redelivered', value: { boolValue: false } },
                  { key: 'lifeline.ratio', value: { doubleValue: 0.5 } },
                  { key: 'lifeline.tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } } },
                ],
                links: [{ traceId: TRACE, spanId: 'aaaaaaaaaaaaaaaa', attributes: [] }],
              },
              { traceId: TRACE, spanId: 'bbbbbbbbbbbbbbbb', parentSpanId: 'eee19b7ec3c1b174', name: 'INSERT', kind: 3 },
            ],
          },
        ],
      },
    ],
  };
}

describe('collectOtlpSpans', () => {
  let collector: OtlpSpanCollector | undefined;
  afterEach(async () => {
    await collector?.close();
  });

  it('accepts OTLP/HTTP JSON on /v1/traces and flattens spans with their service name', async () => {
    collector = await collectOtlpSpans();
    const res = await fetch(`${collector.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(exportBody()),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});

    const [consumer, query] = collector.spans();
    expect(consumer).toEqual({
      traceId: TRACE,
      spanId: 'eee19b7ec3c1b174',
      name: 'clinical.order.placed.v1 process',
      kind: 5,
      serviceName: 'orders',
      attributes: {
        'messaging.system': 'nats',
        'messaging.message.body.size': 512,
        'lifeline.redelivered': false,
        'lifeline.ratio': 0.5,
        'lifeline.tags': '["a",2]',
      },
      links: [{ traceId: TRACE, spanId: 'aaaaaaaaaaaaaaaa', attributes: {} }],
    });
    expect(consumer?.parentSpanId).toBeUndefined();
    expect(query).toMatchObject({ parentSpanId: 'eee19b7ec3c1b174', name: 'INSERT', serviceName: 'orders', attributes: {} });
  });

  it('decodes gzip bodies, ignores metrics and refuses protobuf', async () => {
    collector = await collectOtlpSpans();
    const gz = await fetch(`${collector.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(exportBody())),
    });
    expect(gz.status).toBe(200);
    const metrics = await fetch(`${collector.endpoint}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceMetrics":[]}',
    });
    expect(metrics.status).toBe(200);
    const proto = await fetch(`${collector.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(proto.status).toBe(415);
    expect(collector.spans()).toHaveLength(2);
    collector.clear();
    expect(collector.spans()).toEqual([]);
  });
});
