// Types for postgres-server.mjs.
export type PgStopMode = 'smart' | 'fast' | 'immediate';

export interface StartPostgresOptions {
  /** Default: a free port. */
  port?: number;
  host?: string;
  /** Cluster directory; initdb runs when it holds no cluster. Default: a temp dir that stop() deletes. */
  dataDir?: string;
  socketDir?: string;
  logFile?: string;
  /** fsync/synchronous_commit/full_page_writes off: ordinary integration tests only. Default false. */
  fast?: boolean;
  maxConnections?: number;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
}

export interface PostgresHandle {
  /** Admin URL: user postgres, database postgres, trust auth. */
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly dataDir: string;
  readonly logFile: string;
  stop(opts?: { mode?: PgStopMode }): Promise<void>;
  /** SIGKILL to the postmaster: the crash case; restart() runs crash recovery. */
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

export declare function withDatabase(url: string, database: string): string;
export declare function maskPassword(url: string): string;
export declare function probePostgres(url: string, opts?: { timeoutMs?: number }): Promise<string>;
export declare function postgresReachable(url: string, opts?: { timeoutMs?: number }): Promise<boolean>;
export declare function postmasterPid(dataDir: string): number | undefined;
export declare function postmasterPort(dataDir: string): number | undefined;
export declare function pgCtlStop(dataDir: string, opts?: { mode?: PgStopMode }): Promise<void>;
export declare function startPostgres(opts?: StartPostgresOptions): Promise<PostgresHandle>;
