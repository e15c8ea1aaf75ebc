import type { StoreOptions } from '../store.js';

export interface MongoDbStoreConfig extends StoreOptions {
  /**
   * MONGODB_URI. The database comes from its path (the driver's default, `test`, when it has none); the pool
   * size (`maxPoolSize`), TLS and timeouts from its query string. It may hold a password: it is handed to the
   * driver and never put into an error message.
   */
  readonly uri: string;
  /** How long to wait for a usable server before an operation fails; the URI's `serverSelectionTimeoutMS` wins. */
  readonly serverSelectionTimeoutMs?: number | undefined;
}

/** Every default of this store in one place. */
export const MONGODB_DEFAULTS = Object.freeze({
  /**
   * The driver waits 30 s for a server by default, so an unreachable one would hold /status and a run that
   * long. An election (MongoDB documents a median under 12 s) can outlast 5 s: a run caught by one fails and
   * is retried by the scheduler, which is the same outcome as a longer wait, but the API answers 503 sooner.
   */
  serverSelectionTimeoutMs: 5_000,
  /** TCP connect and TLS handshake per connection (the driver's default is 30 s). */
  connectTimeoutMs: 5_000,
  /** Attempts at a batch whose upserts collided with another writer's insert of the same id (E11000). */
  duplicateKeyAttempts: 3,
});

/** What a MongoDB document can hold, as DYNAMODB_LIMITS says of a DynamoDB item. */
export const MONGODB_LIMITS = Object.freeze({
  /**
   * Largest record (its JSON text) this store keeps: a document holds at most 16 MiB of BSON. Title and body
   * take no more bytes in BSON than in the JSON (escapes only shrink; each string gains 5 bytes of length and
   * end), and the other fields (names, ids, source, ingested_at, run_id) well under 1 KiB. A larger record
   * would fail the whole batch, and every run after it, since the upstream keeps sending it.
   */
  maxRecordBytes: 16 * 1024 * 1024 - 1024,
});

/**
 * MongoDB's connection string, by its own grammar: a replica set lists several hosts
 * (`mongodb://a:27017,b:27017/db?replicaSet=rs0`), which no WHATWG URL parses. Groups: the hosts, the path.
 */
const CONNECTION_STRING = /^mongodb(?:\+srv)?:\/\/(?:[^@/?#\s]+@)?([^@/?#\s]+)(\/[^?#\s]*)?(?:\?[^#\s]*)?$/i;

/** The parts of a connection string safe to show (hosts and database, never user or password), or undefined. */
export function connectionStringParts(uri: string): { hosts: string; database: string } | undefined {
  const match = CONNECTION_STRING.exec(uri);
  if (!match) return undefined;
  return { hosts: match[1] ?? '', database: decodeURIComponent((match[2] ?? '').replace(/^\//, '')) };
}
