export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');
/** What bootstrap needs to start and stop: the relay, when the service has a database. */
export const SERVICE_RUNTIME = Symbol('SERVICE_RUNTIME');
