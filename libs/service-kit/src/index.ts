export { ServiceCoreModule, SERVICE_LOGGER, SERVICE_RUNTIME } from './service-core.module.js';
export type { ServiceCoreOptions, DatabaseDefinition, ServiceRuntime } from './service-core.module.js';
export { bootstrapService } from './bootstrap.js';
export type { BootstrapOptions } from './bootstrap.js';
export { AppErrorHttpFilter } from './app-error.filter.js';
export type { StatusTable } from './app-error.filter.js';
export { HealthController } from './health.controller.js';
export { MetricsController } from './metrics.controller.js';
export { runServiceMigrations } from './migrate.util.js';
