import type { StorageType } from '../src/config.js';
import type { SizeName } from './options.js';
import type { RouteResult } from './serve-bench.js';
import type { Summary } from './stats.js';

/** Everything one `npm run bench` measured: written to bench/results/latest.json and rendered by table.ts. */
export interface BenchReport {
  /** When the run started, ISO 8601 UTC. */
  readonly date: string;
  readonly durationSeconds: number;
  readonly machine: Machine;
  readonly settings: {
    readonly repeats: number;
    readonly serveSeconds: number;
    readonly connections: number;
    readonly sizes: Readonly<Partial<Record<StorageType, Readonly<Record<SizeName, number>>>>>;
    readonly sizeNotes: Readonly<Partial<Record<StorageType, string>>>;
  };
  /** What ran behind each store, with versions. */
  readonly versions: Readonly<Partial<Record<StorageType, string>>>;
  readonly throughput: readonly ThroughputRow[];
  readonly reingestion: readonly ReingestionRow[];
  readonly memory: readonly MemoryRow[];
  readonly serving: readonly ServingRow[];
  /** The bare Fastify process's start-up, the baseline of `startup`. */
  readonly bareStartupMs: Summary | null;
  readonly startup: readonly StartupRow[];
  /** Stores whose scenarios could not finish, and why; their rows are missing. */
  readonly failures: readonly { readonly store: StorageType | 'bare'; readonly error: string }[];
}

export interface Machine {
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  /** 1-minute load average when the run started and ended: above 0 at the start, something else was running. */
  readonly loadAverageStart: number;
  readonly loadAverageEnd: number;
}

export interface ThroughputRow {
  readonly store: StorageType;
  readonly size: SizeName;
  readonly records: number;
  /** Records per second, end to end. */
  readonly service: Summary;
  /** The same runs' duration_ms from /runs, which ends once the commit merged the records. */
  readonly reportedMs: Summary;
  readonly endToEndMs: Summary;
  readonly rawPath: string;
  /** Records per second through the store's own bulk path. */
  readonly raw: Summary;
}

export interface ReingestionRow {
  readonly store: StorageType;
  readonly records: number;
  readonly firstMs: Summary;
  readonly secondMs: Summary;
  /** First run's time over the second's, per repeat. */
  readonly speedup: Summary;
  /** records_changed of each second run: 0 when nothing was rewritten. */
  readonly changedOnSecond: readonly (number | null)[];
}

export interface MemoryRow {
  readonly store: StorageType;
  readonly scenario: 'ingest' | 'paging';
  readonly records: number;
  readonly peakBytes: Summary;
  /** Peak RSS of the same service ingesting the small size: what "independent of the response size" is judged against. */
  readonly baselineRecords: number;
  readonly baselineBytes: Summary;
}

export interface ServingRow extends RouteResult {
  readonly store: StorageType;
  readonly records: number;
}

export interface StartupRow {
  readonly store: StorageType;
  readonly records: number;
  readonly startupMs: Summary;
}
