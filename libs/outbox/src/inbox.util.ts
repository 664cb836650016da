import type { EntityManager } from 'typeorm';

import { batchedInboxClaim } from './transaction.batcher.js';

/**
 * Records that `consumer` applied the message with `messageKey`, in the effect's transaction. Returns
 * false when it was already applied: the caller then does nothing and the message is still acked.
 */
export async function claimInbox(manager: EntityManager, consumer: string, messageKey: string): Promise<boolean> {
  // inside a TransactionBatcher batch the key was claimed with the batch's other keys in one statement
  const batched = batchedInboxClaim(manager, consumer, messageKey);
  if (batched !== undefined) return batched;
  const rows: unknown[] = await manager.query(
    'INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS claimed',
    [consumer, messageKey],
  );
  return rows.length === 1;
}
