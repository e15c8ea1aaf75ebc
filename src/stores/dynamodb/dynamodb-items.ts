import { NEVER_RUN, type IngestionStatus, type LeaseState, type Post, type Run, type RunState } from '../store.js';
import type { Item } from './dynamodb-batch.js';

/**
 * How the contract's shapes map to DynamoDB items. Absent attributes stand for null (DynamoDB has NULL, but
 * leaving them out keeps `attribute_not_exists` conditions simple). Numbers stay N; the document client
 * returns them as JavaScript numbers, exact for every id up to 2^53.
 */

/** A record as stored: the seed's shape plus the run that last wrote it. */
export function postItem(post: Post, runId: string): Item {
  return { source: post.source, id: post.id, userId: post.userId, title: post.title, body: post.body, ingested_at: post.ingested_at, run_id: runId };
}

/** The seed's shape only: bookkeeping attributes such as `run_id` never reach a reader. */
export function toPost(item: Item): Post {
  return {
    userId: item.userId as number,
    id: item.id as number,
    title: item.title as string,
    body: item.body as string,
    ingested_at: item.ingested_at as string,
    source: item.source as string,
  };
}

/** The attributes a re-ingested record is compared on; ingested_at is the run's, so it never counts. */
export function sameContent(stored: Item, post: Post): boolean {
  return stored.userId === post.userId && stored.title === post.title && stored.body === post.body && stored.source === post.source;
}

/** What a reader gets of a record: the seed's shape (toPost). */
export const POST_PROJECTION = {
  expression: '#userId, #id, #title, #body, #ingested_at, #source',
  names: { '#userId': 'userId', '#id': 'id', '#title': 'title', '#body': 'body', '#ingested_at': 'ingested_at', '#source': 'source' },
};

/** What a write reads back to decide whether a record changed: everything but ingested_at. */
export const CONTENT_PROJECTION = {
  expression: '#id, #userId, #title, #body, #source, #run_id',
  names: { '#id': 'id', '#userId': 'userId', '#title': 'title', '#body': 'body', '#source': 'source', '#run_id': 'run_id' },
};

/** Sort key of a run: ISO 8601 UTC timestamps of one width sort as text in time order, run_id breaks ties. */
export function runKey(startedAt: string, runId: string): string {
  return `${startedAt}#${runId}`;
}

const nullable = <T>(value: unknown): T | null => (value === undefined || value === null ? null : (value as T));

export function toRun(item: Item): Run {
  return {
    run_id: item.run_id as string,
    source: item.source as string,
    status: item.status as RunState,
    started_at: item.started_at as string,
    finished_at: nullable<string>(item.finished_at),
    duration_ms: nullable<number>(item.duration_ms),
    records_ingested: (item.records_ingested as number | undefined) ?? 0,
    records_rejected: (item.records_rejected as number | undefined) ?? 0,
    records_changed: nullable<number>(item.records_changed),
    error: nullable<string>(item.error),
    replica: nullable<string>(item.replica),
  };
}

export function toStatus(item: Item | undefined): IngestionStatus {
  if (!item) return NEVER_RUN;
  return {
    last_successful_run: nullable<string>(item.last_successful_run),
    last_attempt: nullable<string>(item.last_attempt),
    status: (item.status as IngestionStatus['status'] | undefined) ?? 'never_run',
    records_ingested: (item.records_ingested as number | undefined) ?? 0,
    records_rejected: (item.records_rejected as number | undefined) ?? 0,
    last_error: nullable<string>(item.last_error),
    last_duration_ms: nullable<number>(item.last_duration_ms),
    last_run_replica: nullable<string>(item.last_run_replica),
  };
}

/**
 * Key of the source's lease item in the status table. SOURCE_NAME allows no `#`, so no source's status item
 * can have this key, and the lease needs no table of its own for operators to provision.
 */
export function leaseKey(source: string): Item {
  return { source: `${source}#lease` };
}

/** A free lease has neither `owner` nor `expires_at`; a missing item is a lease never taken. */
export function toLease(item: Item | undefined): LeaseState {
  return {
    owner: nullable<string>(item?.owner),
    expiresAt: nullable<string>(item?.expires_at),
    lastStartedAt: nullable<string>(item?.last_started_at),
  };
}
