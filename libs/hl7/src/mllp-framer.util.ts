export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_CR = 0x0d;

export type MllpFrameEvent =
  | { kind: 'frame'; payload: Buffer }
  /** Emitted once per oversized frame; `bytes` is how much had arrived when the limit was crossed. */
  | { kind: 'oversized'; bytes: number };

/** Wraps a payload in an MLLP frame: 0x0B payload 0x1C 0x0D. Strings are encoded as UTF-8. */
export function frameMllp(payload: Buffer | string): Buffer {
  const body =
    typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([
    Buffer.of(MLLP_START),
    body,
    Buffer.of(MLLP_END, MLLP_CR),
  ]);
}

type State = 'seeking' | 'collecting' | 'discarding';

/**
 * Incremental MLLP decoder for one connection. TCP splits and merges frames, so bytes are buffered
 * across `push` calls; the buffer never holds more than `maxFrameBytes` (RELIABILITY.md §6).
 * Bytes before 0x0B are dropped; a 0x1C not followed by 0x0D is payload.
 */
export class MllpFramer {
  private readonly maxFrameBytes: number;
  private state: State = 'seeking';
  private parts: Buffer[] = [];
  private size = 0;
  // A chunk ended in 0x1C: whether it ends the frame depends on the next chunk's first byte.
  private pendingEnd = false;

  constructor(options: { maxFrameBytes: number }) {
    if (!Number.isInteger(options.maxFrameBytes) || options.maxFrameBytes < 1) {
      throw new RangeError('maxFrameBytes must be a positive integer');
    }
    this.maxFrameBytes = options.maxFrameBytes;
  }

  static frame(payload: Buffer | string): Buffer {
    return frameMllp(payload);
  }

  /** Bytes of the frame currently being collected. */
  get bufferedBytes(): number {
    return this.size;
  }

  push(chunk: Buffer): MllpFrameEvent[] {
    const events: MllpFrameEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'seeking') {
        const start = chunk.indexOf(MLLP_START, i);
        if (start < 0) break;
        this.state = 'collecting';
        i = start + 1;
        continue;
      }
      if (this.pendingEnd) {
        this.pendingEnd = false;
        if (chunk[i] === MLLP_CR) {
          this.finish(events);
          i += 1;
        } else {
          this.append(Buffer.of(MLLP_END), events);
        }
        continue;
      }
      const end = chunk.indexOf(MLLP_END, i);
      if (end < 0) {
        this.append(chunk.subarray(i), events);
        break;
      }
      this.append(chunk.subarray(i, end), events);
      if (end === chunk.length - 1) {
        this.pendingEnd = true;
        break;
      }
      if (chunk[end + 1] === MLLP_CR) {
        this.finish(events);
        i = end + 2;
      } else {
        this.append(chunk.subarray(end, end + 1), events);
        i = end + 1;
      }
    }
    return events;
  }

  private append(bytes: Buffer, events: MllpFrameEvent[]): void {
    if (this.state !== 'collecting' || bytes.length === 0) return;
    if (this.size + bytes.length > this.maxFrameBytes) {
      events.push({ kind: 'oversized', bytes: this.size + bytes.length });
      this.state = 'discarding';
      this.parts = [];
      this.size = 0;
      return;
    }
    // Copy, so a short tail does not keep a whole 64 KiB socket chunk alive.
    this.parts.push(Buffer.from(bytes));
    this.size += bytes.length;
  }

  private finish(events: MllpFrameEvent[]): void {
    if (this.state === 'collecting') {
      events.push({
        kind: 'frame',
        payload: Buffer.concat(this.parts, this.size),
      });
    }
    this.state = 'seeking';
    this.parts = [];
    this.size = 0;
  }
}
