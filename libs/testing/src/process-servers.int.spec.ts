// Real nats-server and PostgreSQL processes, private to this file. The NATS check reads the INFO line
// over a raw socket so it does not depend on the client library or on probeNats.
import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import pg from 'pg';

import { startNatsServer } from './nats-server.mjs';
import { startPostgres } from './postgres-server.mjs';

function readInfoLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n');
      if (end !== -1) {
        socket.destroy();
        resolve(text.slice(0, end));
      }
    });
  });
}

/**
 * A free port below the kernel's ephemeral range (32768+), above freePort()'s band (10000-19999): after
 * kill -9 the port is free again, and neither a client socket nor a concurrent test's freePort() may
 * take it before the restart binds it.
 */
async function stablePort(): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 20000-29999');
}

function infoOf(line: string): { jetstream?: boolean; port?: number } {
  expect(line.startsWith('INFO ')).toBe(true);
  return JSON.parse(line.slice(5)) as { jetstream?: boolean; port?: number };
}

describe('startNatsServer', () => {
  it('starts JetStream on a free port, survives kill -9 + restart on the same port, and cleans up', async () => {
    const nats = await startNatsServer({ port: await stablePort() });
    try {
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
      expect(infoOf(await readInfoLine(nats.port))).toMatchObject({ jetstream: true, port: nats.port });

      await nats.kill9();
      // refused, or reset when the kernel had still queued our connect on the dying listener (seen in CI)
      await expect(readInfoLine(nats.port)).rejects.toThrow(/ECONNREFUSED|ECONNRESET/);

      await nats.restart();
      expect(infoOf(await readInfoLine(nats.port)).jetstream).toBe(true);
    } finally {
      await nats.stop();
    }
    await expect(readInfoLine(nats.port)).rejects.toThrow(/ECONNREFUSED/);
    expect(existsSync(nats.storeDir)).toBe(false);
  });
});

describe('startPostgres', () => {
  it('keeps a committed row across kill -9 and restart when durable', async () => {
    const server = await startPostgres({ fast: false, port: await stablePort() });
    const run = async (sql: string): Promise<unknown[]> => {
      const client = new pg.Client({ connectionString: server.url });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    try {
      await run('CREATE TABLE acked (id int PRIMARY KEY); INSERT INTO acked VALUES (1)');
      await server.kill9();
      await expect(run('SELECT 1')).rejects.toThrow();

      await server.restart();
      expect(await run('SELECT id FROM acked')).toEqual([{ id: 1 }]);
    } finally {
      await server.stop({ mode: 'immediate' });
    }
    expect(existsSync(server.dataDir)).toBe(false);
  });
});
