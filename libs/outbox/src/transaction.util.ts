import type { DataSource, EntityManager } from 'typeorm';

import { outboxSignal } from './outbox-signal.util.js';

/**
 * Runs `work` in one transaction and hands it the EntityManager explicitly: every repository call and
 * every `outbox.add` inside must use that manager, never the default connection. After the commit the
 * in-process relay is woken (cheaper than waiting for NOTIFY when writer and relay share a process).
 */
export async function runInTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  // PostgreSQL's default isolation (read committed): naming it would cost a SET round trip per transaction
  const result = await dataSource.transaction(work);
  outboxSignal.notify();
  return result;
}
