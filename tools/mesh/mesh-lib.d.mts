// Types for mesh-lib.mjs, so TypeScript e2e tests can start the mesh.

export type MeshServiceName =
  | 'external-sim'
  | 'lab'
  | 'notifications'
  | 'billing'
  | 'orders'
  | 'saga-orchestrator'
  | 'normalizer'
  | 'ingest-gateway';

export interface MeshServiceSpec {
  name: MeshServiceName;
  database: boolean;
  mllp?: boolean;
}

export declare const MESH_SERVICES: readonly MeshServiceSpec[];

export interface StartMeshOptions {
  /** Repository root (absolute). */
  root: string;
  natsUrl: string;
  /** May CREATE DATABASE; service databases are created next to it. */
  adminDatabaseUrl: string;
  /** NATS prefix (streams, subjects, durables) and database name prefix. Default ''. */
  prefix?: string;
  /** One `<service>.log` per service plus provision.log. Default `<root>/.mesh/logs`. */
  logsDir?: string;
  /** Extra env for every service (wins over the defaults), e.g. OTEL_EXPORTER_OTLP_ENDPOINT. */
  env?: Record<string, string>;
  /** Default: every known service present under services/. */
  services?: readonly string[];
  /** Prefer HTTP 3100 + index and MLLP 2575 (the CLI); default false: any free ports. */
  preferPorts?: boolean;
  /** Services outlive this process (the CLI). Default false. */
  detached?: boolean;
  /** Run tools/mesh/provision.mjs first. Default true. */
  provision?: boolean;
  /** Run services/<svc>/dist/migrate.js first. Default true. */
  migrate?: boolean;
  /** Per service, for GET /health/ready to answer 200. Default 60 000. */
  readyTimeoutMs?: number;
  onServiceStarted?: (name: string, info: RunningService) => void;
  log?: (line: string) => void;
}

export interface RunningService {
  pid: number;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  logFile: string;
  databaseUrl?: string;
}

export interface MeshHandle {
  readonly prefix: string;
  readonly natsUrl: string;
  readonly endpoints: {
    /** The ingest-gateway's MLLP listener (port undefined at runtime when the gateway is not started). */
    mllp: { host: string; port: number };
    /** service name → http://127.0.0.1:<port> */
    http: Record<string, string>;
  };
  /** service name → database URL, for services with a database. */
  readonly databases: Record<string, string>;
  readonly services: Record<string, RunningService>;
  /** Stops every service (gateway first, external-sim last; SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** SIGKILL one service and wait until it is gone. */
  kill9(service: string): Promise<void>;
  /** Stop it if alive, start it again with the same port and env, wait for readiness. */
  restart(service: string): Promise<void>;
}

export declare class ServiceStartError extends Error {
  readonly service: string;
  readonly logTail: string;
}

export declare function startMesh(options: StartMeshOptions): Promise<MeshHandle>;
/** Accepts a MeshHandle or the services record of .mesh/state.json. */
export declare function stopMesh(
  mesh: { services?: Record<string, { pid: number }> },
  opts?: { timeoutMs?: number },
): Promise<void>;
export declare function databaseName(service: string, prefix?: string): string;
export declare function resolveServices(root: string, requested?: readonly string[]): MeshServiceSpec[];
export declare function ensureDatabases(opts: {
  adminDatabaseUrl: string;
  services: readonly MeshServiceSpec[];
  prefix?: string;
}): Promise<Record<string, string>>;
export declare function provisionTopology(opts: {
  root: string;
  natsUrl: string;
  prefix?: string;
  logFile: string;
  log?: (line: string) => void;
}): Promise<void>;
export declare function planPorts(
  services: readonly MeshServiceSpec[],
  preferPorts?: boolean,
  pick?: (preferred?: number) => Promise<number>,
): Promise<{ http: Record<string, number>; mllpPort?: number }>;
export declare function probeHealth(url: string, opts?: { timeoutMs?: number }): Promise<'up' | 'down' | 'unknown'>;
