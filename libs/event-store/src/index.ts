export { fold } from './decider.js';
export type { Decider, DomainEvent } from './decider.js';
export { EventStore, handleCommand } from './event-store.js';
export type { EventMetadata, StoredEvent, EventStoreErrorCode } from './event-store.js';
export { CreateEventStore1764000000001 } from './event-store.migration.js';
