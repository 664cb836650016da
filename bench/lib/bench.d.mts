// Types for bench.mjs (the smoke spec is TypeScript).
export declare const ROOT: string;
export declare const DEFAULT_NATS_URL: string;
export declare const DEFAULT_DATABASE_URL: string;

export interface BenchResult {
  machine: Record<string, unknown>;
  figures: Record<string, number>;
  ratios: { hop_vs_pg: number; mllp_vs_js_async: number | null; tracing_on_vs_off: number; stat_p99_backlog_vs_idle: number | null };
  flow_events_per_s: number | null;
  relay_added_latency_p99_ms: number;
  details: Record<string, unknown>;
  skipped: string[];
}

export declare function runBench(opts?: {
  quick?: boolean;
  mesh?: boolean;
  productionLimits?: boolean;
  out?: string;
  natsUrl?: string;
  adminUrl?: string;
  log?: (line: string) => void;
}): Promise<BenchResult>;
export declare function formatTable(result: BenchResult): string;
export declare function readResult(path: string): BenchResult;
