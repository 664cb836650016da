import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

let installed: InMemorySpanExporter | undefined;

/**
 * Registers a real tracer provider (W3C propagator, async context) with an in-memory exporter, so
 * integration tests can assert trace ids and parent chains without an OTLP endpoint. Idempotent.
 */
export function installTestTracing(): InMemorySpanExporter {
  if (installed) return installed;
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  installed = exporter;
  return exporter;
}
