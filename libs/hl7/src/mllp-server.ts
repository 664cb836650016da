import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

import { buildAck, ackModeFor, acceptCode } from './hl7-ack.util.js';
import { parseMsh } from './hl7-msh.util.js';
import type { Hl7Msh } from './hl7-msh.util.js';
import { MllpFramer, frameMllp } from './mllp-framer.util.js';
import type { MllpFrameEvent } from './mllp-framer.util.js';

export interface MllpInboundMessage {
  payload: Buffer;
  remoteAddress: string;
  connectionId: string;
}

export interface MllpConnectionInfo {
  remoteAddress: string;
  connectionId: string;
}

export type MllpServerErrorPhase =
  'server' | 'socket' | 'handler' | 'oversized' | 'write';

export interface MllpServerOptions {
  host?: string;
  port: number;
  /** Largest accepted payload; default 1 MiB (the JetStream default max payload). */
  maxFrameBytes?: number;
  /** Connections without traffic for this long are closed; default 60 s. */
  idleTimeoutMs?: number;
  /** How long `close()` lets an in-flight message finish before destroying its socket; default 5 s. */
  closeTimeoutMs?: number;
  /** Stores the message and returns the ACK payload (unframed). */
  handler: (msg: MllpInboundMessage) => Promise<Buffer | string>;
  /** ACK payload for a frame over `maxFrameBytes`; default: a generic AR (controlId unknown). */
  onOversized?: (
    info: MllpConnectionInfo & { bytes: number },
  ) => Buffer | string | Promise<Buffer | string>;
  /**
   * ACK payload when `handler` throws; return undefined to close the connection instead. Default: AE
   * (CE in enhanced mode) with ERR 207, so the sender retries: nothing was durably accepted.
   */
  onHandlerError?: (
    err: unknown,
    msg: MllpInboundMessage,
  ) => Buffer | string | undefined | Promise<Buffer | string | undefined>;
  /** Notified of every caught failure (never with payload bytes). Must not throw; if it does, ignored. */
  onError?: (
    err: unknown,
    context: { phase: MllpServerErrorPhase; connectionId?: string },
  ) => void;
  /** Clock and id source for the built-in ACKs (tests pin them). */
  now?: () => Date;
  newControlId?: () => string;
}

interface Connection {
  id: string;
  socket: Socket;
  remoteAddress: string;
  framer: MllpFramer;
  queue: MllpFrameEvent[];
  busy: boolean;
  idleTimer?: NodeJS.Timeout;
  closed: Promise<void>;
}

const MIB = 1024 * 1024;

/**
 * MLLP listener: one message at a time per connection (no pipelining, RELIABILITY.md §6), bounded
 * frames, idle timeout. Nothing a peer sends or does can throw out of it.
 */
export class MllpServer {
  private readonly server: Server;
  private readonly open = new Map<string, Connection>();
  private readonly maxFrameBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private closing = false;

  constructor(private readonly options: MllpServerOptions) {
    this.maxFrameBytes = options.maxFrameBytes ?? MIB;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => this.report(err, 'server'));
  }

  get connections(): number {
    return this.open.size;
  }

  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        resolve({ port: (this.server.address() as AddressInfo).port });
      });
    });
  }

  /** Stops accepting, closes idle connections now and busy ones after their current ACK. */
  close(): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) =>
      this.server.close(() => resolve()),
    );
    // The server reports closed before its sockets emit 'close'; wait for those too.
    const sockets = [...this.open.values()].map((conn) => conn.closed);
    for (const conn of this.open.values()) {
      if (!conn.busy) conn.socket.destroy();
    }
    const force = setTimeout(() => {
      for (const conn of this.open.values()) conn.socket.destroy();
    }, this.closeTimeoutMs);
    return Promise.all([stopped, ...sockets]).then(
      () => clearTimeout(force),
      () => clearTimeout(force),
    );
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    let markClosed = (): void => undefined;
    const conn: Connection = {
      id: randomUUID(),
      socket,
      remoteAddress: socket.remoteAddress ?? 'unknown',
      framer: new MllpFramer({ maxFrameBytes: this.maxFrameBytes }),
      queue: [],
      busy: false,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
    };
    this.open.set(conn.id, conn);
    socket.on('error', (err) => this.report(err, 'socket', conn.id));
    socket.on('close', () => {
      clearTimeout(conn.idleTimer);
      conn.queue = [];
      this.open.delete(conn.id);
      markClosed();
    });
    socket.on('data', (chunk: Buffer) => {
      conn.queue.push(...conn.framer.push(chunk));
      this.armIdle(conn);
      void this.drain(conn);
    });
    this.armIdle(conn);
  }

  // The idle clock runs only while we wait for the peer, never while a handler works.
  private armIdle(conn: Connection): void {
    clearTimeout(conn.idleTimer);
    if (conn.busy) return;
    conn.idleTimer = setTimeout(
      () => conn.socket.destroy(),
      this.idleTimeoutMs,
    );
  }

  private async drain(conn: Connection): Promise<void> {
    if (conn.busy) return;
    conn.busy = true;
    clearTimeout(conn.idleTimer);
    // Backpressure: a peer that pipelines cannot make us queue unbounded frames.
    conn.socket.pause();
    try {
      let event = conn.queue.shift();
      while (event !== undefined && !conn.socket.destroyed) {
        const ack = await this.reply(conn, event);
        if (ack === undefined) {
          conn.socket.destroy();
          return;
        }
        await this.write(conn, ack);
        if (this.closing) {
          conn.socket.destroy();
          return;
        }
        event = conn.queue.shift();
      }
    } catch (err) {
      // Only a throwing hook (`now`, `newControlId`) gets here; the peer gets no ACK and will resend.
      this.report(err, 'server', conn.id);
      conn.socket.destroy();
    } finally {
      conn.busy = false;
      if (!conn.socket.destroyed) {
        conn.socket.resume();
        this.armIdle(conn);
      }
    }
  }

  private async reply(
    conn: Connection,
    event: MllpFrameEvent,
  ): Promise<Buffer | string | undefined> {
    const info = { connectionId: conn.id, remoteAddress: conn.remoteAddress };
    if (event.kind === 'oversized') {
      try {
        if (this.options.onOversized)
          return await this.options.onOversized({
            ...info,
            bytes: event.bytes,
          });
      } catch (err) {
        this.report(err, 'oversized', conn.id);
      }
      return this.genericAck(
        null,
        'rejected',
        `MLLP frame exceeds ${this.maxFrameBytes} bytes`,
      );
    }
    const msg = { ...info, payload: event.payload };
    try {
      return await this.options.handler(msg);
    } catch (err) {
      this.report(err, 'handler', conn.id);
      return this.handlerFailed(err, msg);
    }
  }

  private async handlerFailed(
    err: unknown,
    msg: MllpInboundMessage,
  ): Promise<Buffer | string | undefined> {
    if (this.options.onHandlerError) {
      try {
        return await this.options.onHandlerError(err, msg);
      } catch (hookErr) {
        this.report(hookErr, 'handler', msg.connectionId);
        return undefined;
      }
    }
    let msh: Hl7Msh | null = null;
    try {
      msh = parseMsh(msg.payload);
    } catch {
      // Unreadable header: the generic ACK below simply has no MSA-2.
    }
    return this.genericAck(
      msh,
      'store-unavailable',
      'message not accepted, retry later',
    );
  }

  private genericAck(
    msh: Hl7Msh | null,
    outcome: 'rejected' | 'store-unavailable',
    diagnostic: string,
  ): string {
    return buildAck({
      msh,
      code: acceptCode(ackModeFor(msh), outcome),
      controlId: this.options.newControlId?.() ?? randomUUID(),
      error: { hl7ErrorCode: '207', severity: 'E', diagnostic },
      now: this.options.now?.() ?? new Date(),
    });
  }

  private write(conn: Connection, ack: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (conn.socket.destroyed) {
        resolve();
        return;
      }
      try {
        conn.socket.write(frameMllp(ack), (err) => {
          if (err) this.report(err, 'write', conn.id);
          resolve();
        });
      } catch (err) {
        this.report(err, 'write', conn.id);
        resolve();
      }
    });
  }

  private report(
    err: unknown,
    phase: MllpServerErrorPhase,
    connectionId?: string,
  ): void {
    try {
      this.options.onError?.(err, { phase, connectionId });
    } catch {
      // A failing error hook must not take the listener down.
    }
  }
}
