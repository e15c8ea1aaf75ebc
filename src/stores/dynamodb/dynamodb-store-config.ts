import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { RetryPolicy } from '../../config.js';
import type { StoreOptions } from '../store.js';

export interface DynamoDbStoreConfig extends StoreOptions {
  /** AWS region (AWS_REGION). */
  readonly region: string;
  /** A DynamoDB-compatible endpoint for local testing (DYNAMODB_ENDPOINT); empty or absent means AWS itself. */
  readonly endpoint?: string | undefined;
  /** Create missing tables with on-demand billing at `init` (DYNAMODB_CREATE_TABLES); else a missing table fails `init`. */
  readonly createTables: boolean;
  /** The service's one retry policy, used for throttling, 5xx, network errors and unprocessed batch items. */
  readonly retry: RetryPolicy;
  /** Static credentials or a provider; absent means the SDK's default chain (environment, profile, role). */
  readonly credentials?: DynamoDBClientConfig['credentials'];
  /** Deepest `offset` served; each skipped record costs a read (defaults to MAX_OFFSET). */
  readonly maxOffset?: number | undefined;
}

/** Every DynamoDB limit and default of this store in one place. */
export const DYNAMODB_LIMITS = Object.freeze({
  /** BatchWriteItem takes at most 25 put or delete requests. */
  batchWriteItems: 25,
  /** BatchGetItem takes at most 100 keys. */
  batchGetKeys: 100,
  /** Batch requests of one `write` in flight at once; more only makes one partition hotter. */
  batchConcurrency: 4,
  /** Deepest offset: skipping 10,000 key-only items costs 10 Query calls and the read units of 10,000 items. */
  maxOffset: 10_000,
  /** Per HTTP attempt; the SDK has no request timeout of its own, so a silent endpoint would hang a run. */
  requestTimeoutMs: 10_000,
  connectionTimeoutMs: 3_000,
  /** How long `init` waits for a table to become ACTIVE, and how often it looks. */
  tableActiveTimeoutMs: 5 * 60_000,
  tableActivePollMs: 500,
  /**
   * Largest record (its JSON text) this store keeps: an item holds at most 400 KB. Title and body take no more
   * bytes stored than in the JSON (escapes only shrink), and the other attributes (names, ids, source,
   * ingested_at, run_id) under 300 bytes, so a record within this always fits. A larger one would fail the
   * whole BatchWriteItem, and the run with it.
   */
  maxRecordBytes: 399 * 1024,
});
