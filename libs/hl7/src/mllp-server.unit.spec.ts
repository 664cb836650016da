import { connect } from 'node:net';
import type { Socket } from 'node:net';

import { afterEach, describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { buildAck } from './hl7-ack.util.js';
import { parseMsh } from './hl7-msh.util.js';
import { parseHl7 } from './hl7-parse.util.js';
import { MllpClient } from './mllp-client.js';
import { MllpFramer, frameMllp } from './mllp-framer.util.js';
import { MllpServer } from './mllp-server.js';
import type { MllpInboundMessage, MllpServerOptions } from './mllp-server.js';

const NOW = new Date('2024-01-01T00:00:00Z');
const message = (id: string): string =>
  `MSH|^~\\&|SND|SF|RCV|RF|2024||ORU^R01|${id}|P|2.5.1\rPID|1`;

// Echo handler: AA for whatever arrives (the real gateway stores first).
const aa = (msg: MllpInboundMessage): Promise<string> =>
  Promise.resolve(
    buildAck({
      msh: parseMsh(msg.payload),
      code: 'AA',
      controlId: 'ACK',
      now: NOW,
    }),
  );

const msa = (ack: Buffer): [string, string] => {
  const parsed = parseHl7(ack);
  return [parsed.field('MSA', 1), parsed.field('MSA', 2)];
};

const servers: MllpServer[] = [];
const clients: MllpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(
  options: Partial<MllpServerOptions> = {},
): Promise<{ server: MllpServer; port: number }> {
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    handler: aa,
    now: () => NOW,
    ...options,
  });
  servers.push(server);
  const { port } = await server.listen();
  return { server, port };
}

async function client(port: number): Promise<MllpClient> {
  const c = new MllpClient({ timeoutMs: 5_000 });
  clients.push(c);
  await c.connect('127.0.0.1', port);
  return c;
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function readFrames(socket: Socket, count: number): Promise<Buffer[]> {
  const framer = new MllpFramer({ maxFrameBytes: 65_536 });
  const out: Buffer[] = [];
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      for (const e of framer.push(chunk))
        if (e.kind === 'frame') out.push(e.payload);
      if (out.length >= count) resolve(out);
    });
  });
}

describe('MllpServer + MllpClient', () => {
  it('round-trips a message and hands the handler payload, address and connection id', async () => {
    const seen: MllpInboundMessage[] = [];
    const { server, port } = await start({
      handler: (m) => (seen.push(m), aa(m)),
    });
    const c = await client(port);
    expect(msa(await c.send(message('M1')))).toEqual(['AA', 'M1']);
    expect(seen[0]?.payload.toString()).toBe(message('M1'));
    expect(seen[0]?.remoteAddress).toBe('127.0.0.1');
    expect(seen[0]?.connectionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.connections).toBe(1);
  });

  it('processes pipelined frames of one connection one at a time, in order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const order: string[] = [];
    const { port } = await start({
      handler: async (m) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setImmediate(r));
        order.push(parseMsh(m.payload).controlId);
        inFlight -= 1;
        return aa(m);
      },
    });
    const socket = await rawSocket(port);
    const acks = readFrames(socket, 3);
    socket.write(
      Buffer.concat(['A', 'B', 'C'].map((id) => frameMllp(message(id)))),
    );
    expect((await acks).map((a) => msa(a)[1])).toEqual(['A', 'B', 'C']);
    expect(order).toEqual(['A', 'B', 'C']);
    expect(maxInFlight).toBe(1);
    socket.destroy();
  });

  it('answers an oversized frame with AR and keeps serving the same connection', async () => {
    const { port } = await start({ maxFrameBytes: 200 });
    const c = await client(port);
    const big = await c.send(`${message('BIG')}\rNTE|1||${'x'.repeat(500)}`);
    expect(msa(big)).toEqual(['AR', '']);
    expect(parseHl7(big).field('ERR', 3)).toBe('207');
    expect(msa(await c.send(message('SMALL')))).toEqual(['AA', 'SMALL']);
  });

  it('uses onOversized for the oversized reply when given', async () => {
    const { port } = await start({
      maxFrameBytes: 50,
      onOversized: ({ bytes }) => `SIZE ${bytes > 50}`,
    });
    const c = await client(port);
    expect((await c.send('y'.repeat(80))).toString()).toBe('SIZE true');
  });

  it('closes a connection that stays idle for idleTimeoutMs', async () => {
    const { server, port } = await start({ idleTimeoutMs: 50 });
    const socket = await rawSocket(port);
    await new Promise((resolve) => socket.once('close', resolve));
    await server.close();
    expect(server.connections).toBe(0);
  });

  it('replies AE (ERR 207) when the handler throws, and keeps running', async () => {
    const errors: string[] = [];
    let fail = true;
    const { port } = await start({
      handler: (m) => (fail ? Promise.reject(new Error('db down')) : aa(m)),
      onError: (_err, ctx) => errors.push(ctx.phase),
    });
    const c = await client(port);
    const ack = await c.send(message('F1'));
    expect(msa(ack)).toEqual(['AE', 'F1']);
    expect(parseHl7(ack).field('ERR', 3)).toBe('207');
    expect(errors).toEqual(['handler']);
    fail = false;
    expect(msa(await c.send(message('F2')))).toEqual(['AA', 'F2']);
  });

  it('closes the connection when onHandlerError returns undefined', async () => {
    const { port } = await start({
      handler: () => Promise.reject(new Error('boom')),
      onHandlerError: () => undefined,
    });
    const c = await client(port);
    const err = await c.send(message('X')).catch((e: unknown) => e);
    expect(isAppError(err, 'MLLP_CONNECTION_CLOSED')).toBe(true);
  });

  it('survives garbage and abrupt disconnects', async () => {
    const { port } = await start();
    const rude = await rawSocket(port);
    rude.write(Buffer.from([0x0b, 0xff, 0x00, 0x1c]));
    rude.destroy();
    const socket = await rawSocket(port);
    const acks = readFrames(socket, 2);
    socket.write(
      Buffer.concat([
        Buffer.from('garbage'),
        frameMllp('not hl7'),
        frameMllp(message('OK')),
      ]),
    );
    // The echo handler throws on 'not hl7' (no MSH): that frame gets the generic AE, then 'OK' its AA.
    expect((await acks).map((a) => msa(a))).toEqual([
      ['AE', ''],
      ['AA', 'OK'],
    ]);
    socket.destroy();
  });

  it('times out a send and rejects sends when not connected', async () => {
    const { port } = await start({
      handler: () => new Promise<string>(() => undefined),
      closeTimeoutMs: 10,
    });
    const c = new MllpClient({ timeoutMs: 30 });
    clients.push(c);
    expect(
      isAppError(
        await c.send('x').catch((e: unknown) => e),
        'MLLP_NOT_CONNECTED',
      ),
    ).toBe(true);
    await c.connect('127.0.0.1', port);
    const err = await c.send(message('T')).catch((e: unknown) => e);
    expect(isAppError(err, 'MLLP_ACK_TIMEOUT')).toBe(true);
    expect(c.connected).toBe(false);
  });

  it('close() stops accepting and ends open connections', async () => {
    const { server, port } = await start();
    const socket = await rawSocket(port);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await server.close();
    await closed;
    await expect(rawSocket(port)).rejects.toThrow();
  });
});
