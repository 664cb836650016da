import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import type { Envelope } from '@lifeline/contracts';
import { EventStore, handleCommand, type StoredEvent } from '@lifeline/event-store';
import { currentTraceId } from '@lifeline/observability';
import { TransactionBatcher, claimInbox } from '@lifeline/outbox';

import { labOrderDecider, labOrderStreamId, type LabOrderCommand, type LabOrderEvent } from './lab-order.decider.js';
import { OrderRepository, type OrderSummary } from './order.repository.js';

export interface OrderHistory {
  order: OrderSummary;
  events: Array<{ version: number; type: string; data: unknown; recordedAt: string; messageId?: string; traceId?: string }>;
}

/**
 * Applies one message to a LabOrder stream: inbox row, new events and the read model commit together,
 * so a redelivered message is a no-op and the projection never disagrees with the stream.
 */
@Injectable()
export class OrderService {
  private readonly store = new EventStore();

  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: OrderRepository,
    private readonly batcher: TransactionBatcher,
  ) {}

  async apply(params: { consumer: string; envelope: Envelope<unknown>; command: LabOrderCommand }): Promise<{ applied: boolean; events: number }> {
    const { consumer, envelope, command } = params;
    // group commit: concurrent messages share one transaction (database effects only in here, see TransactionBatcher)
    return this.batcher.run({ inbox: { consumer, key: envelope.idempotencyKey }, work: async (manager) => {
      if (!(await claimInbox(manager, consumer, envelope.idempotencyKey))) return { applied: false, events: 0 };
      const result = await handleCommand({
        manager,
        store: this.store,
        streamId: labOrderStreamId(command.data.orderId),
        decider: labOrderDecider,
        command,
        metadata: { messageId: envelope.id, correlationId: envelope.correlationId, causationId: envelope.causationId, traceId: currentTraceId() },
      });
      if (result.events.length > 0 && result.state.status !== 'none') {
        const placerNamespace = command.type === 'PlaceOrder' ? command.data.placerNamespace : undefined;
        await this.repository.upsertSummary(manager, { ...result.state, placerNamespace }, result.version);
      }
      return { applied: true, events: result.events.length };
    } });
  }

  async history(orderId: string): Promise<OrderHistory | undefined> {
    const manager = this.dataSource.manager;
    const order = await this.repository.findById(manager, orderId);
    if (!order) return undefined;
    const { events } = await this.store.load<LabOrderEvent>(manager, labOrderStreamId(orderId));
    return { order, events: events.map(toHistoryEntry) };
  }

  async findByPlacerOrderNumber(placerOrderNumber: string): Promise<OrderSummary[]> {
    return this.repository.findByPlacerOrderNumber(this.dataSource.manager, placerOrderNumber);
  }
}

function toHistoryEntry(e: StoredEvent<LabOrderEvent>): OrderHistory['events'][number] {
  return {
    version: e.version,
    type: e.event.type,
    data: e.event.data,
    recordedAt: e.recordedAt.toISOString(),
    messageId: e.metadata.messageId,
    traceId: e.metadata.traceId,
  };
}
