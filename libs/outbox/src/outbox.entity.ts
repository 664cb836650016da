import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A message waiting to be published; written in the same transaction as the state change. */
@Entity({ name: 'outbox' })
export class OutboxMessageEntity {
  @PrimaryColumn('uuid')
  id!: string;

  /** Insertion order; per-aggregate publish order follows it (never used as a high-water mark). */
  @Column({ type: 'bigint', generated: 'increment' })
  seq!: string;

  @Column({ name: 'aggregate_id', type: 'text' })
  aggregateId!: string;

  @Column({ type: 'text' })
  subject!: string;

  /** Envelope headers plus the writing transaction's trace context (traceparent/tracestate). */
  @Column({ type: 'jsonb' })
  headers!: Record<string, string>;

  @Column({ type: 'jsonb' })
  payload!: unknown;

  @Column({ name: 'expect_stream', type: 'text', nullable: true })
  expectStream!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;

  @Column({ type: 'int' })
  attempts!: number;

  /** The relay whose last publish of this row failed (diagnostics). */
  @Column({ name: 'lease_owner', type: 'text', nullable: true })
  leaseOwner!: string | null;

  /** "Retry not before" after a failed publish; holds back the rest of the aggregate until then. */
  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil!: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;
}

/** A message a consumer has already applied: (consumer, message key) written with the effect. */
@Entity({ name: 'inbox' })
export class InboxEntryEntity {
  @PrimaryColumn({ type: 'text' })
  consumer!: string;

  @PrimaryColumn({ name: 'message_id', type: 'text' })
  messageId!: string;

  @Column({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;
}
