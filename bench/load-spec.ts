/** What serve-bench.ts asks of the load generator (load-worker.ts, a process of its own), and what it answers. */

/** Stands in a path for an id drawn at random per request. */
export const ID_PLACEHOLDER = '{n}';

/** Whether the load generator draws a new path for each request of `path`. */
export function drawsIds(path: string): boolean {
  return path.includes(ID_PLACEHOLDER);
}

export interface LoadSpec {
  readonly url: string;
  /** A path; ID_PLACEHOLDER in it is replaced, per request, by a random integer from `min` to `max`. */
  readonly path: string;
  readonly min?: number;
  readonly max?: number;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}
