import type { RetryPolicy } from '../../config.js';
import type { StoreOptions } from '../store.js';

export interface PostgresStoreConfig extends StoreOptions {
  /** A libpq-style connection string; TLS settings such as `sslmode` pass through to the driver. */
  readonly uri: string;
  /** Most connections the pool opens; a running ingestion holds one of them for its whole run. */
  readonly poolSize: number;
  /** How `init()` retries while PostgreSQL is not reachable yet (the shared backoff policy). */
  readonly connectRetry: RetryPolicy;
  /** Longest wait for one new connection, so a silent network fails instead of hanging. Default 10 s. */
  readonly connectTimeoutMs?: number | undefined;
  /** Longest wait of one statement for a lock another session holds (PostgreSQL's lock_timeout). Default 10 s. */
  readonly lockTimeoutMs?: number | undefined;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/**
 * The lock_timeout for a process given `shutdownTimeoutMs` to stop. Shutdown cancels the run, but a statement
 * already waiting for a lock waits on: at most half of that time, it fails soon enough for the run to record
 * its interruption before the process must exit. Never 0, which PostgreSQL reads as no limit.
 */
export function lockTimeoutFor(shutdownTimeoutMs: number): number {
  return Math.max(1, Math.min(DEFAULT_LOCK_TIMEOUT_MS, Math.floor(shutdownTimeoutMs / 2)));
}
