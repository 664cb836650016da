import { connect } from 'node:net';
import type { Socket } from 'node:net';

import { hl7Error } from './hl7.errors.js';
import { MllpFramer, frameMllp } from './mllp-framer.util.js';
import type { MllpFrameEvent } from './mllp-framer.util.js';

interface Pending {
  resolve: (ack: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Minimal MLLP sender: one message in flight at a time (calls to `send` queue up), each answered by
 * one ACK frame. After a timeout the connection is dropped, because a late ACK could otherwise be
 * taken for the answer to the next message.
 */
export class MllpClient {
  private socket: Socket | undefined;
  private framer: MllpFramer;
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly timeoutMs: number;
  private readonly maxFrameBytes: number;

  constructor(options: { timeoutMs?: number; maxFrameBytes?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
    this.framer = new MllpFramer({ maxFrameBytes: this.maxFrameBytes });
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  connect(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const onConnectError = (err: Error): void => reject(err);
      socket.once('error', onConnectError);
      socket.once('connect', () => {
        socket.off('error', onConnectError);
        socket.on('error', () => {
          // 'close' follows every socket error; the pending send is failed there.
        });
        this.socket = socket;
        this.framer = new MllpFramer({ maxFrameBytes: this.maxFrameBytes });
        resolve();
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.fail(hl7Error({ code: 'MLLP_CONNECTION_CLOSED' }));
      });
    });
  }

  /** Sends one message and resolves with the ACK payload (unframed). */
  send(
    payload: Buffer | string,
    options: { timeoutMs?: number } = {},
  ): Promise<Buffer> {
    const next = this.chain.then(() =>
      this.sendNow(payload, options.timeoutMs ?? this.timeoutMs),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A peer that never closes its side must not hang us.
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }

  private sendNow(
    payload: Buffer | string,
    timeoutMs: number,
  ): Promise<Buffer> {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) {
      return Promise.reject(hl7Error({ code: 'MLLP_NOT_CONNECTED' }));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          hl7Error({ code: 'MLLP_ACK_TIMEOUT', details: { timeoutMs } }),
        );
        socket.destroy();
      }, timeoutMs);
      this.pending = { resolve, reject, timer };
      socket.write(frameMllp(payload));
    });
  }

  private onData(chunk: Buffer): void {
    for (const event of this.framer.push(chunk)) this.onFrame(event);
  }

  private onFrame(event: MllpFrameEvent): void {
    const pending = this.pending;
    // An unsolicited frame (nothing in flight) is dropped: there is no request to match it to.
    if (pending === undefined) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    if (event.kind === 'frame') pending.resolve(event.payload);
    else
      pending.reject(
        hl7Error({
          code: 'MLLP_ACK_TOO_LARGE',
          details: { bytes: event.bytes },
        }),
      );
  }

  private fail(err: Error): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(err);
  }
}
