import { randomUUID } from 'node:crypto';

import pg from 'pg';

import { Semaphore, type JetStreamPublisher } from '@lifeline/messaging';
import {
  ATTR,
  METRICS,
  MESSAGING_SYSTEM,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  extractTraceContext,
  inSpan,
  traceLinkFrom,
  type Link,
  type Logger,
} from '@lifeline/observability';

import { OUTBOX_CHANNEL } from './outbox.writer.js';
import { outboxSignal } from './outbox-signal.util.js';

export interface OutboxRelayOptions {
  databaseUrl: string;
  publisher: JetStreamPublisher;
  logger: Logger;
  /** Aggregates claimed per batch. */
  batchAggregates?: number;
  /** Rows per aggregate per batch. */
  rowsPerAggregate?: number;
  /** Aggregates published concurrently (rows within one aggregate go one after another). */
  maxInFlight?: number;
  /** Fallback poll when neither NOTIFY nor the in-process signal arrives. */
  pollIntervalMs?: number;
  /**
   * @deprecated Ignored: claimed rows are held by row locks for the relay transaction's lifetime (a
   * crashed relay's locks go with its connection), not by a timed lease.
   */
  leaseMs?: number;
  /** A row whose publish failed (and the rest of its aggregate) is retried after this delay. */
  retryDelayMs?: number;
  /** Sent rows are kept this long (reconciliation, audits), then deleted. */
  retainSentMs?: number;
  owner?: string;
  /**
   * How the relay shows up in traces. `'batch'` (default): one `send outbox` PRODUCER span per relay
   * batch, a root with links to the published messages' creation contexts (up to 128, the SDK's link
   * limit), and each message keeps the trace context its writing transaction stored, so the next
   * consumer's span is a child of the writer's span: the OTel messaging conventions' batch-send shape.
   * `'message'`: a `send` span per message, child of the writer's context (what the relay did before;
   * per message it costs a span to build and export: bench/README.md, tracing).
   */
  spans?: 'batch' | 'message';
  /**
   * Negative-control tests only: claims without the row lock (`'no-row-lock'`) so that the
   * concurrency tests can show they detect the duplicates and reorders the lock prevents.
   */
  unsafeClaim?: 'no-row-lock';
}

/** The SDK's default span link limit: links past it would be built only to be dropped. */
const MAX_LINKS = 128;

interface ClaimedRow {
  id: string;
  aggregate_id: string;
  seq: string;
  subject: string;
  headers: Record<string, string>;
  payload: unknown;
  expect_stream: string | null;
  created_at: Date;
}

interface BatchOutcome {
  sent: string[];
  /** A failed row and the claimed rows after it in its aggregate (`held`). */
  failed: Array<{ id: string; error: string; held: string[] }>;
}

/**
 * The claim, run inside the relay's transaction. `heads` walks unsent rows in seq order (partial index
 * outbox_unsent_by_seq) and keeps a row only if no earlier unsent row of its aggregate exists (probe on
 * outbox_unsent_by_aggregate): it stops after `limit` heads instead of sorting every unsent row. The
 * head is locked FOR UPDATE SKIP LOCKED; a relay that finds another relay's head locked skips it, and
 * the later rows of that aggregate fail the NOT EXISTS probe because the locked head is still unsent
 * in its snapshot (a head marked sent meanwhile fails the re-check of `sent_at IS NULL` on the locked
 * row). So two relays never publish one aggregate at the same time. The probe ignores lease_until, so
 * a head waiting for its retry ("not before") holds back the whole aggregate. Then up to `perAggregate`
 * rows of each claimed aggregate, in seq order, via the same index.
 */
function claimSql({ limit, perAggregate, lock }: { limit: number; perAggregate: number; lock: boolean }): string {
  if (!Number.isInteger(limit) || !Number.isInteger(perAggregate) || limit < 1 || perAggregate < 1) {
    throw new Error('outbox relay: batchAggregates and rowsPerAggregate must be positive integers');
  }
  return `
WITH heads AS (
  SELECT o.aggregate_id FROM outbox o
  WHERE o.sent_at IS NULL
    AND (o.lease_until IS NULL OR o.lease_until <= clock_timestamp())
    AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.aggregate_id = o.aggregate_id AND e.sent_at IS NULL AND e.seq < o.seq)
  ORDER BY o.seq
  LIMIT ${limit}
  ${lock ? 'FOR UPDATE OF o SKIP LOCKED' : ''}
)
SELECT r.id, r.aggregate_id, r.seq, r.subject, r.headers, r.payload, r.expect_stream, r.created_at
FROM heads h CROSS JOIN LATERAL (
  SELECT n.id, n.aggregate_id, n.seq, n.subject, n.headers, n.payload, n.expect_stream, n.created_at FROM outbox n
  WHERE n.aggregate_id = h.aggregate_id AND n.sent_at IS NULL
  ORDER BY n.seq
  LIMIT ${perAggregate}
) r`;
}

/**
 * Marks published rows sent ('s'), failed rows ('f') "retry not before" with their error, and the
 * claimed rows behind a failed one ('h') with the same retry time: the head alone would hold them back
 * too, but the claim's cheap lease_until filter then skips them without the NOT EXISTS probe (a claim
 * while publishing fails everywhere: 90 → 15-25 ms with 50,000 rows). Then commits: one round trip.
 * Values are inlined (the simple protocol allows two statements) through escapeLiteral.
 */
function markSql(outcome: BatchOutcome, { owner, retryDelayMs }: { owner: string; retryDelayMs: number }): string {
  const rows = [
    ...outcome.sent.map((id) => ({ id, state: 's', error: 'NULL' })),
    ...outcome.failed.flatMap((f) => [{ id: f.id, state: 'f', error: pg.escapeLiteral(f.error) }, ...f.held.map((id) => ({ id, state: 'h', error: 'NULL' }))]),
  ];
  if (rows.length === 0) return 'COMMIT';
  const column = (pick: (r: (typeof rows)[number]) => string): string => rows.map(pick).join(',');
  return `
UPDATE outbox o SET
  sent_at = CASE WHEN r.state = 's' THEN clock_timestamp() END,
  attempts = o.attempts + CASE WHEN r.state = 'h' THEN 0 ELSE 1 END,
  last_error = COALESCE(r.error, o.last_error),
  lease_owner = CASE WHEN r.state = 's' THEN NULL ELSE ${pg.escapeLiteral(owner)} END,
  lease_until = CASE WHEN r.state = 's' THEN NULL ELSE clock_timestamp() + make_interval(secs => ${Number(retryDelayMs) / 1000}) END
FROM unnest(ARRAY[${column((r) => pg.escapeLiteral(r.id))}]::uuid[], ARRAY[${column((r) => `'${r.state}'`)}]::text[], ARRAY[${column((r) => r.error)}]::text[]) AS r(id, state, error)
WHERE o.id = r.id;
COMMIT`;
}

export class OutboxRelay {
  private readonly pool: pg.Pool;
  private listener?: pg.Client;
  private running = false;
  private idle = false;
  private loop?: Promise<void>;
  private maintenance?: NodeJS.Timeout;
  private readonly opts: Required<Omit<OutboxRelayOptions, 'publisher' | 'logger' | 'databaseUrl' | 'leaseMs' | 'unsafeClaim'>>;
  private readonly claim: string;

  constructor(private readonly options: OutboxRelayOptions) {
    this.opts = {
      batchAggregates: options.batchAggregates ?? 100,
      rowsPerAggregate: options.rowsPerAggregate ?? 20,
      maxInFlight: options.maxInFlight ?? 32,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      retryDelayMs: options.retryDelayMs ?? 2_000,
      retainSentMs: options.retainSentMs ?? 7 * 24 * 3_600_000,
      owner: options.owner ?? `relay-${randomUUID().slice(0, 8)}`,
      spans: options.spans ?? 'batch',
    };
    if (!Number.isFinite(this.opts.retryDelayMs) || this.opts.retryDelayMs < 0) throw new Error('outbox relay: retryDelayMs must be a non-negative number');
    this.claim = claimSql({ limit: this.opts.batchAggregates, perAggregate: this.opts.rowsPerAggregate, lock: options.unsafeClaim !== 'no-row-lock' });
    // the owner in application_name lets an operator (or a test) find one relay's connection
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 3, application_name: `outbox-relay:${this.opts.owner}`.slice(0, 63) });
    this.pool.on('error', (err) => options.logger.warn({ err: { name: err.name } }, 'outbox relay pool error'));
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.listen();
    this.loop = this.run();
    this.maintenance = setInterval(() => void this.maintain(), 5_000);
    this.maintenance.unref();
  }

  /** Stops claiming; rows already claimed finish publishing. Unsent rows stay for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    outboxSignal.notify();
    if (this.maintenance) clearInterval(this.maintenance);
    await this.loop;
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  private async listen(): Promise<void> {
    // LISTEN is a hint only: it does not survive transaction-mode poolers, so polling stays on.
    try {
      const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'outbox-listener' });
      client.on('notification', () => outboxSignal.notify());
      client.on('error', () => {
        this.listener = undefined;
      });
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.listener = client;
    } catch (err) {
      this.options.logger.warn({ err: { name: (err as Error).name } }, 'outbox LISTEN unavailable; polling only');
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let published = 0;
      try {
        published = await this.relayOnce();
      } catch (err) {
        this.options.logger.error({ err: { name: (err as Error).name, code: (err as { code?: string }).code } }, 'outbox relay batch failed');
      }
      if (published === 0 && this.running) {
        this.idle = true;
        await outboxSignal.wait(this.opts.pollIntervalMs);
        this.idle = false;
      }
    }
  }

  /** 'idle': the last claim found nothing and the loop waits for a wake-up or the next poll. */
  get state(): 'stopped' | 'relaying' | 'idle' {
    if (!this.running) return 'stopped';
    return this.idle ? 'idle' : 'relaying';
  }

  /**
   * One relay transaction: claim → publish → mark sent → commit. Returns how many rows were published.
   * Exposed for tests.
   */
  async relayOnce(): Promise<number> {
    const client = await this.pool.connect();
    // the connection can die while we publish (no query running): without a listener that 'error'
    // would be unhandled; the mark query then fails and the batch is rolled back
    const onError = (): void => undefined;
    client.on('error', onError);
    let outcome: BatchOutcome;
    try {
      // Why synchronous_commit = off here: this transaction only records bookkeeping (sent_at, retry
      // time). If PostgreSQL crashes before its WAL is flushed, the markers are lost and the rows are
      // published again with the same Nats-Msg-Id: the broker drops them within its duplicate window
      // and the consumers' inbox (keyed by idempotency key) beyond it. WAL is flushed in order, so a
      // lost marker never leaves a later row of the aggregate marked. The transaction that wrote the
      // row (the business transaction) keeps synchronous commit: that is the durability that counts.
      const results = (await client.query(`BEGIN; SET LOCAL synchronous_commit = off; ${this.claim}`)) as unknown as Array<pg.QueryResult<ClaimedRow>>;
      const claimed = results.at(-1)?.rows ?? [];
      outcome = claimed.length === 0 ? { sent: [], failed: [] } : await this.publishTraced(claimed);
      await client.query(markSql(outcome, this.opts));
    } catch (err) {
      // destroying the connection rolls the transaction back and frees its row locks
      client.off('error', onError);
      client.release(err as Error);
      throw err;
    }
    client.off('error', onError);
    client.release();
    for (const f of outcome.failed) {
      this.options.logger.warn({ rows: f.held.length + 1, error: f.error }, 'outbox publish failed; will retry');
    }
    return outcome.sent.length;
  }

  /** The batch inside one `send outbox` span (spans: 'batch'), or with a span per message. */
  private async publishTraced(claimed: ClaimedRow[]): Promise<BatchOutcome> {
    if (this.opts.spans === 'message') return this.publishBatch(claimed);
    const links: Link[] = [];
    for (const row of claimed) {
      if (links.length === MAX_LINKS) break;
      const link = traceLinkFrom(row.headers);
      if (link) links.push(link);
    }
    return inSpan(
      {
        name: 'send outbox',
        kind: SpanKind.PRODUCER,
        parent: ROOT_CONTEXT,
        links,
        attributes: { [ATTR.messagingSystem]: MESSAGING_SYSTEM, [ATTR.messagingOperationType]: 'send', [ATTR.messagingBatchMessageCount]: claimed.length },
      },
      async (span) => {
        const outcome = await this.publishBatch(claimed);
        if (outcome.failed.length > 0) {
          span.setAttribute(ATTR.outboxFailed, outcome.failed.reduce((n, f) => n + 1 + f.held.length, 0));
          span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.failed[0]?.error });
        }
        return outcome;
      },
    );
  }

  /** Publishes each aggregate's rows in seq order, up to maxInFlight aggregates at once. */
  private async publishBatch(claimed: ClaimedRow[]): Promise<BatchOutcome> {
    const groups = new Map<string, ClaimedRow[]>();
    for (const row of claimed) {
      const group = groups.get(row.aggregate_id) ?? [];
      group.push(row);
      groups.set(row.aggregate_id, group);
    }
    const outcome: BatchOutcome = { sent: [], failed: [] };
    const semaphore = new Semaphore(this.opts.maxInFlight);
    await Promise.all(
      [...groups.values()].map(async (group) => {
        group.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
        await semaphore.acquire();
        try {
          for (let i = 0; i < group.length; i += 1) {
            const row = group[i] as ClaimedRow;
            try {
              await this.publish(row);
              outcome.sent.push(row.id);
            } catch (err) {
              // keep order: the failed row becomes the aggregate's head with a retry time, which holds
              // back the rest of the aggregate (the claim's NOT EXISTS probe)
              outcome.failed.push({ id: row.id, error: (err as Error).name, held: group.slice(i + 1).map((r) => r.id) });
              break;
            }
          }
        } finally {
          semaphore.release();
        }
      }),
    );
    return outcome;
  }

  private async publish(row: ClaimedRow): Promise<void> {
    const ack = await this.options.publisher.publishRaw({
      subject: row.subject,
      headers: row.headers,
      body: new TextEncoder().encode(JSON.stringify(row.payload)),
      msgId: row.id,
      expectStream: row.expect_stream ?? undefined,
      // the message continues the trace of the transaction that wrote the row: through a send span
      // of its own ('message'), or carrying the writer's context as stored ('batch')
      parent: this.opts.spans === 'message' ? extractTraceContext(row.headers) : undefined,
      span: this.opts.spans === 'message',
    });
    METRICS.outboxPublished.labels(String(ack.duplicate)).inc();
    METRICS.outboxRelayLatency.observe((Date.now() - new Date(row.created_at).getTime()) / 1000);
  }

  /** Backlog gauges and retention of sent rows. */
  private async maintain(): Promise<void> {
    try {
      const r = await this.pool.query<{ pending: string; oldest: number | null }>(
        `SELECT count(*) AS pending, EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 AS oldest FROM outbox WHERE sent_at IS NULL`,
      );
      METRICS.outboxPending.set(Number(r.rows[0]?.pending ?? 0));
      METRICS.outboxOldestAge.set(r.rows[0]?.oldest ?? 0);
      await this.pool.query(
        `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at < clock_timestamp() - make_interval(secs => $1::double precision / 1000) LIMIT 1000)`,
        [this.opts.retainSentMs],
      );
    } catch {
      // gauges are best-effort; the next tick tries again
    }
  }

  /** Unsent rows and the oldest one's age, for health and tests. */
  async backlog(): Promise<{ pending: number; oldestAgeMs: number }> {
    const r = await this.pool.query<{ pending: string; oldest: number | null }>(
      `SELECT count(*) AS pending, EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 * 1000 AS oldest FROM outbox WHERE sent_at IS NULL`,
    );
    return { pending: Number(r.rows[0]?.pending ?? 0), oldestAgeMs: r.rows[0]?.oldest ?? 0 };
  }
}
