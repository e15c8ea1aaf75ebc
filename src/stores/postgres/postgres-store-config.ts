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
