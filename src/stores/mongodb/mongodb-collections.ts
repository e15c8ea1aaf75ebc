import type { Collection, Db, Document } from 'mongodb';
import { NEVER_RUN, type IngestionStatus, type LeaseState, type Post, type Run } from '../store.js';

/** A run as stored: `_id` is the run id, unique like the SQLite store's primary key. */
export interface RunDocument {
  _id: string;
  source: string;
  status: Run['status'];
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  records_ingested: number;
  records_rejected: number;
  records_changed: number | null;
  error: string | null;
  replica: string | null;
}

/** The one status document per source: `_id` is the source. `current_run_id` owns the state fields. */
export interface StatusDocument {
  _id: string;
  status: IngestionStatus['status'];
  current_run_id: string | null;
  last_attempt: string | null;
  last_successful_run: string | null;
  records_ingested: number;
  records_rejected: number;
  last_error: string | null;
  last_duration_ms: number | null;
  last_run_replica: string | null;
}

/** The run lease of a source: `_id` is the source. Owner and expiry are null while it is free. */
export interface LeaseDocument {
  _id: string;
  owner: string | null;
  expires_at: string | null;
  last_started_at: string | null;
}

export interface MongoDbCollections {
  readonly records: Collection<Document>;
  readonly runs: Collection<RunDocument>;
  readonly status: Collection<StatusDocument>;
  readonly lease: Collection<LeaseDocument>;
}

export function mongoDbCollections(db: Db, tableName: string): MongoDbCollections {
  return {
    records: db.collection(tableName),
    runs: db.collection<RunDocument>(`${tableName}_runs`),
    status: db.collection<StatusDocument>(`${tableName}_status`),
    lease: db.collection<LeaseDocument>(`${tableName}_lease`),
  };
}

/**
 * Creates the two indexes. `createIndex` with the same name and keys is a no-op on an existing index, so
 * any number of replicas may run this at once. The status and lease collections need none: they are keyed
 * by `_id`.
 */
export async function ensureIndexes(collections: MongoDbCollections): Promise<void> {
  await collections.records.createIndex({ id: 1 }, { unique: true, name: 'id_unique' });
  // Serves /runs (newest first) and pruning; `_id` last breaks ties between runs started in the same millisecond.
  await collections.runs.createIndex({ source: 1, started_at: -1, _id: -1 }, { name: 'source_started_at' });
}

/** Returns records in the seed's shape: MongoDB's own `_id` never leaves the store. */
export const POST_PROJECTION = Object.freeze({ _id: 0, userId: 1, id: 1, title: 1, body: 1, ingested_at: 1, source: 1 });

export function toPost(doc: Document): Post {
  return { userId: doc.userId, id: doc.id, title: doc.title, body: doc.body, ingested_at: doc.ingested_at, source: doc.source };
}

/** Exactly the fields the SQLite store returns, with its defaults for a run still in progress. */
export function toRun(doc: RunDocument): Run {
  return {
    run_id: doc._id,
    source: doc.source,
    status: doc.status,
    started_at: doc.started_at,
    finished_at: doc.finished_at ?? null,
    duration_ms: doc.duration_ms ?? null,
    records_ingested: doc.records_ingested ?? 0,
    records_rejected: doc.records_rejected ?? 0,
    records_changed: doc.records_changed ?? null,
    error: doc.error ?? null,
    replica: doc.replica ?? null,
  };
}

export function toStatus(doc: StatusDocument | null): IngestionStatus {
  if (!doc) return NEVER_RUN;
  return {
    last_successful_run: doc.last_successful_run ?? null,
    last_attempt: doc.last_attempt ?? null,
    status: doc.status,
    records_ingested: doc.records_ingested ?? 0,
    records_rejected: doc.records_rejected ?? 0,
    last_error: doc.last_error ?? null,
    last_duration_ms: doc.last_duration_ms ?? null,
    last_run_replica: doc.last_run_replica ?? null,
  };
}

/** A missing document is a lease never taken; fields a write never set read as null. */
export function toLease(doc: LeaseDocument | null): LeaseState {
  return { owner: doc?.owner ?? null, expiresAt: doc?.expires_at ?? null, lastStartedAt: doc?.last_started_at ?? null };
}
