/**
 * The Store contract: what ingestion and the API need from a database, and nothing more. Every backend
 * (sqlite/, postgres/, dynamodb/, mongodb/) implements it and passes the one conformance suite in
 * test/stores/. Stores throw StoreUnavailableError (code STORE_UNAVAILABLE) when the database cannot be
 * reached or refuses an operation; the API turns that into a 503 and a run into a failure.
 */

/** A stored record, in the seed's shape. */
export interface Post {
  readonly userId: number;
  readonly id: number;
  readonly title: string;
  readonly body: string;
  /** The start of the run that last changed this record, RFC 3339 UTC. */
  readonly ingested_at: string;
  readonly source: string;
}

export type RunState = 'running' | 'success' | 'failed';

/** One ingestion run, as kept in the run history. */
export interface Run {
  readonly run_id: string;
  readonly source: string;
  readonly status: RunState;
  readonly started_at: string;
  readonly finished_at: string | null;
  readonly duration_ms: number | null;
  /** Valid records received and upserted, changed or not. */
  readonly records_ingested: number;
  readonly records_rejected: number;
  /** Records inserted or updated because they differed; null where the store cannot tell cheaply. */
  readonly records_changed: number | null;
  readonly error: string | null;
  /** REPLICA_ID of the process that ran it; null for runs recorded before replicas were tracked. */
  readonly replica: string | null;
}

/** What GET /status answers. Success fields describe the last successful run; the rest the last attempt. */
export interface IngestionStatus {
  readonly last_successful_run: string | null;
  readonly last_attempt: string | null;
  readonly status: 'never_run' | RunState;
  readonly records_ingested: number;
  readonly records_rejected: number;
  readonly last_error: string | null;
  readonly last_duration_ms: number | null;
  /** REPLICA_ID of the process that ran the latest attempt. */
  readonly last_run_replica: string | null;
}

export const NEVER_RUN: IngestionStatus = Object.freeze({
  last_successful_run: null,
  last_attempt: null,
  status: 'never_run',
  records_ingested: 0,
  records_rejected: 0,
  last_error: null,
  last_duration_ms: null,
  last_run_replica: null,
});

/** A page of posts in ascending id order: by offset, or by keyset (`after`: ids strictly greater). */
export interface PostPage {
  readonly limit: number;
  readonly offset: number;
  readonly after?: number | undefined;
}

export interface RunStart {
  readonly runId: string;
  readonly startedAt: string;
  /** REPLICA_ID of the process running it. */
  readonly replica?: string | undefined;
}

/**
 * The run lease of the store's source: which replica may run its ingestion now, and when the schedule last
 * started a run. Times are RFC 3339 UTC text, compared as text (fixed width, so text order is time order).
 */
export interface LeaseState {
  /** The replica holding the lease, or null when it is free. */
  readonly owner: string | null;
  /** When the holder's lease lapses unless renewed; a lapsed lease is free to take. */
  readonly expiresAt: string | null;
  /** Start of the last run that ended (success or failure); the schedule counts the next interval from it. */
  readonly lastStartedAt: string | null;
}

export interface LeaseRequest {
  readonly owner: string;
  readonly now: string;
  readonly expiresAt: string;
  /**
   * Take the lease only if the last run started at or before this instant (now minus the interval): the
   * schedule is due. Absent for a run asked for now (POST /ingest), which needs only a free lease.
   */
  readonly dueIfStartedBy?: string | undefined;
}

export interface RunSuccess {
  /**
   * Reads the clock for the run's end. The store calls it once, when the run's records are written (inside the
   * commit's transaction on a store with atomic runs), so `finished_at` and `duration_ms` cover the commit: on a
   * first run of a million records, that was a third (PostgreSQL) to a half (SQLite) of the run.
   */
  readonly finishedAt: () => string;
  readonly recordsIngested: number;
  readonly recordsRejected: number;
}

export interface RunCommitted {
  /** Records the run inserted or updated; null where the store cannot tell. */
  readonly recordsChanged: number | null;
  /** The run's `finished_at`, as recorded. */
  readonly finishedAt: string;
}

export interface RunFailure {
  readonly finishedAt: string;
  /** Short and safe to show: no stack, no credentials. */
  readonly error: string;
  readonly recordsRejected: number;
}

/**
 * Writes one run. Records written here become visible on `commit` together with the run's status on stores
 * with `capabilities.atomicRuns`; elsewhere they are written idempotently as they come and the status, written
 * last and guarded against older runs, is the commit marker.
 */
export interface RunWriter {
  /**
   * How many writes the ingestion may leave in flight at once while it parses the next batch. More than one
   * only where the writer applies its writes one after another, in the order they were called.
   */
  readonly writesInFlight: number;
  /** Upserts a batch of valid posts (at most the store's batch size), in as few statements as the store allows. */
  write(posts: readonly Post[]): Promise<void>;
  /** Forgets what the current attempt wrote, before a retry sends the records again. */
  discardAttempt(): Promise<void>;
  /** Makes the run's records and its success status durable together. */
  commit(result: RunSuccess): Promise<RunCommitted>;
  /**
   * Drops what an atomic store staged, and records the run as failed; the last good status stays. A run whose
   * commit went through (its answer lost on the way) stays a success: abort never turns one into a failure.
   * One that recovery marked failed ("the run's end was not recorded") takes this failure's cause and end.
   */
  abort(result: RunFailure): Promise<void>;
}

export interface StoreCapabilities {
  /** Records and status commit in one transaction: readers never see a failed run's records. */
  readonly atomicRuns: boolean;
}

export interface StoreOptions {
  /** Records live here; status and runs in `<tableName>_status` and `<tableName>_runs` (or the store's equivalent). */
  readonly tableName: string;
  /** The source whose status and runs this store keeps. */
  readonly source: string;
  /** Most posts handed to one `write`. */
  readonly batchSize: number;
  /** How many runs the history keeps, newest first. */
  readonly runHistoryLimit: number;
}

export interface Store {
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  /** Connects and brings the schema up to date; nothing connects before it. Idempotent across replicas. */
  init(): Promise<void>;
  /** Releases connections; a run in flight should have been aborted first. */
  close(): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  listPosts(page: PostPage): Promise<Post[]>;
  getPost(id: number): Promise<Post | undefined>;
  getStatus(): Promise<IngestionStatus>;
  /** Newest first. */
  listRuns(limit: number): Promise<Run[]>;
  /**
   * Marks runs left `running` as failed (RUN_END_UNRECORDED); returns how many. Called by the lease holder
   * right after taking the lease: while it holds the lease, no other replica can be running a run.
   */
  recoverInterruptedRuns(finishedAt: string): Promise<number>;
  /** Records the run as `running` (visible in /status and /runs) and returns its writer. */
  beginRun(run: RunStart): Promise<RunWriter>;
  /**
   * Takes the run lease when it is free (never taken, released, lapsed, or already the caller's after a
   * restart) and the schedule is due, atomically: of replicas asking together, exactly one gets it.
   */
  acquireLease(request: LeaseRequest): Promise<{ readonly acquired: boolean; readonly lease: LeaseState }>;
  /** Extends the caller's lease to `expiresAt`; false when the caller no longer holds it. */
  renewLease(owner: string, expiresAt: string): Promise<boolean>;
  /**
   * Frees the caller's lease. `lastStartedAt` is the start of the run that just ended; absent when the run
   * was interrupted, so that the schedule stays due and the next replica runs it again at once.
   */
  releaseLease(owner: string, lastStartedAt?: string): Promise<void>;
}

export const RUN_HISTORY_LIMIT = 1000;

/** A run's `duration_ms`, from the ISO timestamps it records: whole milliseconds, in every store. */
export function durationMs(startedAt: string, finishedAt: string): number {
  return Date.parse(finishedAt) - Date.parse(startedAt);
}

/**
 * The error `recoverInterruptedRuns` records: the run's replica died, or lost the store as the run failed and
 * stopped before the store came back (run-ingestion.ts keeps asking until then). Either way its cause is only
 * in that replica's log.
 */
export const RUN_END_UNRECORDED = "interrupted: the run's end was not recorded (its replica stopped, or could not reach the store when the run ended)";
