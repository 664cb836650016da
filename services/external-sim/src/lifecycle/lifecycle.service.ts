import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import { Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';

/**
 * Owns what outlives a request handler: `slow` delays and `timeout` holds. Both end when the app
 * shuts down, before the HTTP server closes: `server.close()` waits for every open connection,
 * so one held socket would otherwise hang `app.close()` forever.
 */
@Injectable()
export class LifecycleService implements BeforeApplicationShutdown {
  private readonly shutdown = new AbortController();
  private readonly held = new Set<ServerResponse>();

  get heldCount(): number {
    return this.held.size;
  }

  /** Resolves true after `ms`, or false at once if the app is shutting down. */
  async delay(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.shutdown.signal });
      return true;
    } catch {
      return false;
    }
  }

  /** Never answers: the client times out, or the socket is cut at shutdown. */
  hold(res: ServerResponse): void {
    if (this.shutdown.signal.aborted) {
      res.destroy();
      return;
    }
    this.held.add(res);
    res.once('close', () => this.held.delete(res));
  }

  beforeApplicationShutdown(): void {
    this.shutdown.abort();
    // Destroy rather than answer: to the client this looks like the remote system going away.
    for (const res of this.held) res.destroy();
    this.held.clear();
  }
}
