// Preloaded with `node --import`: telemetry must start before Nest and Express are imported.
import { startTelemetry } from '@lifeline/observability';

startTelemetry({ serviceName: 'billing' });
