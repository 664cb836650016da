import { randomUUID } from 'node:crypto';

import pg from 'pg';

import { Semaphore, type JetStreamPublisher } from '@lifeline/messaging';
import { METRICS, extractTraceContext, type Logger } from '@lifeline/observability';

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
  /** Lease on claimed rows; a crashed relay's rows are claimable again after it. */
  leaseMs?: number;
  /** Sent rows are kept this long (reconciliation, audits), then deleted. */
  retainSentMs?: number;
  owner?: string;
}

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

/**
 * Claims the head of each aggregate's unsent rows with FOR UPDATE SKIP LOCKED and a lease (so two
 * relays never hold the same aggregate), then leases that aggregate's next rows. A second relay sees
 * the head leased and skips the aggregate, which keeps per-aggregate order across relays.
 */
const CLAIM_SQL = `
WITH heads AS (
  SELECT DISTINCT ON (aggregate_id) id FROM outbox
  WHERE sent_at IS NULL
  ORDER BY aggregate_id, seq
), claimable AS (
  SELECT o.aggregate_id FROM outbox o JOIN heads h ON h.id = o.id
  -- sent_at IS NULL lets the planner use the partial index instead of reading sent rows kept for days
  WHERE o.sent_at IS NULL AND (o.lease_until IS NULL OR o.lease_until < clock_timestamp())
  ORDER BY o.seq
  LIMIT $1
  FOR UPDATE OF o SKIP LOCKED
), batch AS (
  SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY aggregate_id ORDER BY seq) AS rn
    FROM outbox
    WHERE sent_at IS NULL AND aggregate_id IN (SELECT aggregate_id FROM claimable)
  ) ranked WHERE rn <= $2
)
UPDATE outbox SET lease_owner = $3, lease_until = clock_timestamp() + make_interval(secs => $4::double precision / 1000), attempts = attempts + 1
WHERE id IN (SELECT id FROM batch)
RETURNING id, aggregate_id, seq, subject, headers, payload, expect_stream, created_at`;

export class OutboxRelay {
  private readonly pool: pg.Pool;
  private listener?: pg.Client;
  private running = false;
  private idle = false;
  private loop?: Promise<void>;
  private maintenance?: NodeJS.Timeout;
  private readonly opts: Required<Omit<OutboxRelayOptions, 'publisher' | 'logger' | 'databaseUrl'>>;

  constructor(private readonly options: OutboxRelayOptions) {
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 3, application_name: 'outbox-relay' });
    this.pool.on('error', (err) => options.logger.warn({ err: { name: err.name } }, 'outbox relay pool error'));
    this.opts = {
      batchAggregates: options.batchAggregates ?? 100,
      rowsPerAggregate: options.rowsPerAggregate ?? 20,
      maxInFlight: options.maxInFlight ?? 32,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      leaseMs: options.leaseMs ?? 30_000,
      retainSentMs: options.retainSentMs ?? 7 * 24 * 3_600_000,
      owner: options.owner ?? `relay-${randomUUID().slice(0, 8)}`,
    };
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

  /** One claim → publish → mark-sent cycle; returns how many rows were published. Exposed for tests. */
  async relayOnce(): Promise<number> {
    const claimed = await this.pool.query<ClaimedRow>(CLAIM_SQL, [
      this.opts.batchAggregates,
      this.opts.rowsPerAggregate,
      this.opts.owner,
      this.opts.leaseMs,
    ]);
    if (claimed.rows.length === 0) return 0;
    const groups = new Map<string, ClaimedRow[]>();
    for (const row of claimed.rows) {
      const group = groups.get(row.aggregate_id) ?? [];
      group.push(row);
      groups.set(row.aggregate_id, group);
    }
    const sent: string[] = [];
    const failed: Array<{ ids: string[]; error: string }> = [];
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
              sent.push(row.id);
            } catch (err) {
              // keep order: the rest of this aggregate waits for the failed row
              failed.push({ ids: group.slice(i).map((r) => r.id), error: (err as Error).name });
              break;
            }
          }
        } finally {
          semaphore.release();
        }
      }),
    );
    if (sent.length > 0) {
      await this.pool.query('UPDATE outbox SET sent_at = clock_timestamp(), lease_until = NULL, lease_owner = NULL WHERE id = ANY($1::uuid[])', [sent]);
    }
    for (const f of failed) {
      await this.pool.query(
        `UPDATE outbox SET lease_until = clock_timestamp() + interval '2 seconds', last_error = $2 WHERE id = ANY($1::uuid[])`,
        [f.ids, f.error],
      );
      this.options.logger.warn({ rows: f.ids.length, error: f.error }, 'outbox publish failed; will retry');
    }
    return sent.length;
  }

  private async publish(row: ClaimedRow): Promise<void> {
    const ack = await this.options.publisher.publishRaw({
      subject: row.subject,
      headers: row.headers,
      body: new TextEncoder().encode(JSON.stringify(row.payload)),
      msgId: row.id,
      expectStream: row.expect_stream ?? undefined,
      // the relay continues the trace of the transaction that wrote the row
      parent: extractTraceContext(row.headers),
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
