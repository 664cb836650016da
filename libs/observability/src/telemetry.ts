import { register } from 'node:module';

import type { TextMapPropagator } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';

let sdk: NodeSDK | undefined;

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** Defaults to process.env; passed in so this stays testable. */
  env?: Record<string, string | undefined>;
}

/**
 * Starts the OTel SDK. Must run before Nest and Express are imported: call it from the service's
 * `instrumentation.ts`, preloaded with `node --import`. The ESM loader hook is registered first,
 * otherwise ESM-loaded Express is not patched (STACK.md §6).
 * Exports OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT is set (protobuf, or JSON with
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json); spans still exist without it so trace ids reach logs and headers.
 */
export function startTelemetry(options: TelemetryOptions): void {
  if (sdk) return;
  const env = options.env ?? process.env;
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const spanProcessors: SpanProcessor[] = [];
  if (endpoint) {
    const url = `${endpoint.replace(/\/$/, '')}/v1/traces`;
    const exporter = env.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json' ? new OtlpJsonExporter({ url }) : new OtlpProtoExporter({ url });
    // Batch (not simple) processor: exporting must never sit on the message path (opentelemetry-js#4741).
    spanProcessors.push(new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500, maxQueueSize: 8192, maxExportBatchSize: 512 }));
  }

  sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME ?? options.serviceName,
      'service.version': options.serviceVersion ?? env.SERVICE_VERSION ?? '0.1.0',
      'service.namespace': 'lifeline',
    }),
    autoDetectResources: false,
    spanProcessors,
    textMapPropagator: textMapPropagatorFor(env),
    instrumentations: [
      new HttpInstrumentation({
        // health probes and metric scrapes would drown the clinical traces
        ignoreIncomingRequestHook: (req) => /^\/(health|metrics)/.test(req.url ?? ''),
      }),
      new ExpressInstrumentation(),
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
    ],
  });
  sdk.start();
}

/**
 * W3C trace context only, unless OTEL_PROPAGATORS says otherwise (then the SDK reads it: undefined).
 * The SDK's default adds W3C baggage: free-form key-values from whoever sent the message, which we
 * neither use nor want carried through the mesh (a sender could put PHI in it), and one more header
 * lookup per message.
 */
export function textMapPropagatorFor(env: Record<string, string | undefined>): TextMapPropagator | undefined {
  return env.OTEL_PROPAGATORS ? undefined : new W3CTraceContextPropagator();
}

/** Flushes and stops the SDK (on shutdown, after the app has drained). */
export async function stopTelemetry(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  await current?.shutdown();
}
