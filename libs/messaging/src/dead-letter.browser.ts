import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

import { DeadLetterV1, SUBJECTS, type Naming } from '@lifeline/contracts';

export interface DeadLetterFilter {
  service?: string;
  consumer?: string;
  errorCode?: string;
  /** The patient key hash (never a name). */
  patientKey?: string;
  /** First DLQ stream sequence to read (paging cursor). */
  fromSeq?: number;
  /** Default 100, at most 1,000. */
  limit?: number;
}

export interface DeadLetterEntry {
  /** DLQ stream sequence: the cursor for paging and the handle for replay. */
  seq: number;
  subject: string;
  record: DeadLetterV1;
}

/**
 * Reads dead letters from the DLQ stream (limits retention, so it stays browsable) with an ordered
 * consumer on one filter subject (2.9: single filter). For the ops console and tests.
 */
export async function listDeadLetters(params: { nc: NatsConnection; naming: Naming; filter?: DeadLetterFilter }): Promise<DeadLetterEntry[]> {
  const { nc, naming } = params;
  const filter = params.filter ?? {};
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1_000);
  const subject = naming.subject(
    filter.service || filter.consumer ? SUBJECTS.dlq(filter.service ?? '*', filter.consumer ?? '*') : 'dlq.>',
  );
  const js = jetstream(nc);
  const consumer = await js.consumers.get(naming.stream('DLQ'), {
    filter_subjects: subject,
    ...(filter.fromSeq ? { opt_start_seq: filter.fromSeq } : {}),
  });
  const out: DeadLetterEntry[] = [];
  try {
    while (out.length < limit) {
      const batch = await consumer.fetch({ max_messages: Math.min(256, limit - out.length), expires: 1_000 });
      let got = 0;
      let pending = 0;
      for await (const m of batch) {
        got += 1;
        pending = m.info.pending;
        const parsed = DeadLetterV1.safeParse(m.json());
        if (!parsed.success) continue;
        const record = parsed.data;
        if (filter.errorCode && record.error.code !== filter.errorCode) continue;
        if (filter.patientKey && record.patientKey !== filter.patientKey) continue;
        out.push({ seq: m.seq, subject: naming.unprefix(m.subject), record });
        if (out.length >= limit) break;
      }
      if (got === 0 || pending === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}
