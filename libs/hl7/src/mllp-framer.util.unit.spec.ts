import { describe, expect, it } from '@jest/globals';

import { MllpFramer, frameMllp } from './mllp-framer.util.js';
import type { MllpFrameEvent } from './mllp-framer.util.js';

const A = 'MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|P|2.5\rPID|1';
const B = 'MSH|^~\\&|A|B|C|D|2024||ORU^R01|2|P|2.5';

function frames(events: MllpFrameEvent[]): string[] {
  return events.map((e) =>
    e.kind === 'frame' ? e.payload.toString('utf8') : `oversized:${e.bytes}`,
  );
}

function pushAll(framer: MllpFramer, chunks: Buffer[]): MllpFrameEvent[] {
  return chunks.flatMap((c) => framer.push(c));
}

describe('MllpFramer', () => {
  it('encodes 0x0B payload 0x1C 0x0D', () => {
    expect([...frameMllp('AB')]).toEqual([0x0b, 0x41, 0x42, 0x1c, 0x0d]);
    expect(MllpFramer.frame(Buffer.from('AB'))).toEqual(frameMllp('AB'));
  });

  it('decodes a frame split at every byte boundary', () => {
    const wire = frameMllp(A);
    for (let cut = 0; cut <= wire.length; cut += 1) {
      const framer = new MllpFramer({ maxFrameBytes: 1024 });
      const out = pushAll(framer, [wire.subarray(0, cut), wire.subarray(cut)]);
      expect(frames(out)).toEqual([A]);
    }
  });

  it('decodes a frame fed one byte at a time', () => {
    const wire = frameMllp(A);
    const framer = new MllpFramer({ maxFrameBytes: 1024 });
    const out = pushAll(
      framer,
      [...wire].map((b) => Buffer.of(b)),
    );
    expect(frames(out)).toEqual([A]);
  });

  it('decodes merged frames and frames split across chunks, in order', () => {
    const wire = Buffer.concat([frameMllp(A), frameMllp(B), frameMllp(A)]);
    const framer = new MllpFramer({ maxFrameBytes: 1024 });
    const out = pushAll(framer, [
      wire.subarray(0, 70),
      wire.subarray(70, 71),
      wire.subarray(71),
    ]);
    expect(frames(out)).toEqual([A, B, A]);
  });

  it('drops garbage before 0x0B and between frames', () => {
    const wire = Buffer.concat([
      Buffer.from('noise\r\n'),
      frameMllp(A),
      Buffer.from('x'),
      frameMllp(B),
    ]);
    expect(frames(new MllpFramer({ maxFrameBytes: 1024 }).push(wire))).toEqual([
      A,
      B,
    ]);
  });

  it('keeps a lone 0x1C (also at a chunk edge) and lone CRs in the payload', () => {
    const payload = Buffer.from([0x41, 0x1c, 0x42, 0x0d, 0x43, 0x1c]);
    const wire = frameMllp(payload);
    for (let cut = 0; cut <= wire.length; cut += 1) {
      const framer = new MllpFramer({ maxFrameBytes: 1024 });
      const out = pushAll(framer, [wire.subarray(0, cut), wire.subarray(cut)]);
      expect(out).toEqual([{ kind: 'frame', payload }]);
    }
  });

  it('reports an oversized frame once, discards it, then recovers', () => {
    const framer = new MllpFramer({ maxFrameBytes: 10 });
    const big = frameMllp('X'.repeat(25));
    const out = pushAll(framer, [
      big.subarray(0, 6),
      big.subarray(6, 12),
      big.subarray(12),
      frameMllp('small'),
    ]);
    expect(frames(out)).toEqual(['oversized:11', 'small']);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('accepts a frame of exactly maxFrameBytes', () => {
    const framer = new MllpFramer({ maxFrameBytes: 5 });
    expect(frames(framer.push(frameMllp('12345')))).toEqual(['12345']);
  });

  it('keeps memory bounded while discarding', () => {
    const framer = new MllpFramer({ maxFrameBytes: 100 });
    framer.push(Buffer.of(0x0b));
    for (let i = 0; i < 50; i += 1) framer.push(Buffer.alloc(1000, 0x41));
    expect(framer.bufferedBytes).toBe(0);
  });
});
