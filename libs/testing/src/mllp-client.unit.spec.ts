import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:net';

import { ackCode, frameMllp, normalizeHl7, sendMllp } from './mllp-client.mjs';

describe('MLLP client', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('normalises line endings to CR-terminated segments', () => {
    expect(normalizeHl7('MSH|^~\\&|A\r\nPID|1\n\n')).toBe('MSH|^~\\&|A\rPID|1\r');
  });

  it('frames the message and returns the framed ACK', async () => {
    let received = Buffer.alloc(0);
    server = createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.includes(0x1c)) {
          // reply in two chunks to exercise reassembly
          const ack = frameMllp('MSH|^~\\&|LIFELINE\rMSA|CA|MSG-1\r');
          socket.write(ack.subarray(0, 10));
          socket.end(ack.subarray(10));
        }
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const ack = await sendMllp({ port, message: 'MSH|^~\\&|EHR\nPID|1' });

    expect(received).toEqual(frameMllp('MSH|^~\\&|EHR\rPID|1\r'));
    expect(ack).toBe('MSH|^~\\&|LIFELINE\rMSA|CA|MSG-1\r');
    expect(ackCode(ack)).toBe('CA');
  });

  it('rejects when the peer closes without an ACK', async () => {
    // resume(): an unread socket never sees EOF, so it would never close
    server = createServer((socket) => socket.resume().end());
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await expect(sendMllp({ port, message: 'MSH|^~\\&|EHR', timeoutMs: 5_000 })).rejects.toThrow(/closed before a complete ACK/);
  });
});
