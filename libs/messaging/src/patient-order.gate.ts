/**
 * Per-patient ordering inside one consumer process: a message runs only when it is the lowest stream
 * sequence still pending for its patient key; different keys run in parallel. "Pending" covers a
 * message running here (later ones wait in memory for it) and one away for a delayed redelivery
 * (retrying or held: later ones are held too, with a short delayed nak that consumes no attempt).
 * Entries of messages that never come back (taken by another replica, or gone) expire.
 *
 * Within a process this gate is what keeps one patient's events in order while other patients flow;
 * across restarts the retrying heads (retry-head.store.ts), across replicas and crashes one active
 * process per consumer (consumer-lease.ts).
 */
export type GateAdmission = { kind: 'run' } | { kind: 'wait'; until: Promise<void> } | { kind: 'hold' };

interface Entry {
  state: 'running' | 'away';
  /** When an away entry stops counting (expected redelivery + slack). */
  expiresAt: number;
  done?: Promise<void>;
  resolve?: () => void;
}

export class PatientOrderGate {
  private readonly keys = new Map<string, Map<number, Entry>>();

  constructor(private readonly now: () => number = Date.now) {}

  admit(key: string, seq: number, holdForMs: number): GateAdmission {
    const entries = this.entriesOf(key);
    const t = this.now();
    let waitOn: Promise<void> | undefined;
    let blockedByAway = false;
    for (const [s, e] of entries) {
      if (s >= seq) continue;
      if (e.state === 'away' && e.expiresAt <= t) {
        entries.delete(s);
        continue;
      }
      if (e.state === 'running') waitOn = e.done;
      else blockedByAway = true;
    }
    if (waitOn) return { kind: 'wait', until: waitOn };
    if (blockedByAway) {
      entries.set(seq, { state: 'away', expiresAt: t + holdForMs });
      return { kind: 'hold' };
    }
    let resolve: (() => void) | undefined;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    entries.set(seq, { state: 'running', expiresAt: Number.POSITIVE_INFINITY, done, resolve });
    return { kind: 'run' };
  }

  /** After the broker settled it: `done` (acked / dead-lettered) or `away` (nak'ed for `awayMs`). */
  settle(key: string, seq: number, outcome: 'done' | 'away', awayMs = 0): void {
    const entries = this.keys.get(key);
    const entry = entries?.get(seq);
    if (!entries || !entry) return;
    if (outcome === 'done') entries.delete(seq);
    else entries.set(seq, { state: 'away', expiresAt: this.now() + awayMs });
    entry.resolve?.();
    if (entries.size === 0) this.keys.delete(key);
  }

  /** Registers a message held outside the gate (its patient is parked): it stays pending, away. */
  hold(key: string, seq: number, awayMs: number): void {
    const entries = this.entriesOf(key);
    const prev = entries.get(seq);
    entries.set(seq, { state: 'away', expiresAt: this.now() + awayMs });
    prev?.resolve?.();
  }

  /**
   * Every message still expected back, per key: away ones until they expire, running ones (a stop
   * that outlived its drain timeout) until `runningUntil`. A graceful stop hands these to the next
   * process (retry-head.store.ts).
   */
  expected(runningUntil: number): Map<string, Array<{ seq: number; until: number }>> {
    const t = this.now();
    const out = new Map<string, Array<{ seq: number; until: number }>>();
    for (const [key, entries] of this.keys) {
      const list: Array<{ seq: number; until: number }> = [];
      for (const [seq, e] of entries) {
        if (e.state === 'running') list.push({ seq, until: runningUntil });
        else if (e.expiresAt > t) list.push({ seq, until: e.expiresAt });
      }
      if (list.length > 0) out.set(key, list);
    }
    return out;
  }

  /** Messages known to be pending per key (for metrics and tests). */
  pendingCount(): number {
    let n = 0;
    for (const e of this.keys.values()) n += e.size;
    return n;
  }

  private entriesOf(key: string): Map<number, Entry> {
    let entries = this.keys.get(key);
    if (!entries) {
      entries = new Map();
      this.keys.set(key, entries);
    }
    return entries;
  }
}
