// Types for nats-server.mjs.
export interface NatsInfo {
  server_id: string;
  version: string;
  jetstream?: boolean;
  [key: string]: unknown;
}

export interface StartNatsServerOptions {
  /** Default: a free port. */
  port?: number;
  host?: string;
  /** JetStream store (-sd). Default: a temp dir that stop() deletes. */
  storeDir?: string;
  logFile?: string;
  /** Outlive this process (own session, unref'd). */
  detached?: boolean;
  /** Extra nats-server arguments. */
  args?: string[];
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly storeDir: string;
  readonly logFile: string;
  /** SIGTERM and wait; deletes the store only when it was a temp dir created by startNatsServer. */
  stop(): Promise<void>;
  /** SIGKILL and wait; the store stays for restart(). */
  kill9(): Promise<void>;
  /** Same port and store. */
  restart(): Promise<void>;
}

export declare function parseNatsUrl(url: string): { host: string; port: number };
export declare function probeNats(url: string, opts?: { timeoutMs?: number }): Promise<NatsInfo>;
export declare function natsReachable(url: string, opts?: { timeoutMs?: number }): Promise<boolean>;
export declare function startNatsServer(opts?: StartNatsServerOptions): Promise<NatsServerHandle>;
