import type { AnyBulkWriteOperation, ClientSession, Document } from 'mongodb';
import { RunSupersededError, StoreUnavailableError } from '../../errors.js';
import { lastOccurrences } from '../last-occurrences.js';
import { idSpan } from '../post-changes.js';
import { durationMs, type Post, type RunCommitted, type RunFailure, type RunStart, type RunSuccess, type RunWriter, type StoreOptions } from '../store.js';
import { callMongo, duplicateKeyIndexes } from './mongodb-call.js';
import type { MongoDbCollections, RunDocument } from './mongodb-collections.js';
import { MONGODB_DEFAULTS } from './mongodb-store-config.js';
import type { MongoDbTransactions } from './mongodb-transactions.js';
import { plannedWrites, readStoredContent } from './mongodb-upserts.js';

/**
 * Writes a run without a transaction around its records (see docs/mongodb.md for why, even on a replica set):
 * each batch reads the stored copies of its ids, then sends one unordered bulk write of what is new or
 * changed (nothing, when nothing is), visible at once; the run's status is written
 * last, guarded so that an older run never overwrites a newer run's success or state, and it is the commit
 * marker. A reader may see records of a run in progress or of a failed run, never a status ahead of them.
 */
export class MongoDbRunWriter implements RunWriter {
  /** A write reads the stored copies, then writes what changed: a second write meanwhile could land out of order. */
  readonly writesInFlight = 1;
  readonly #collections: MongoDbCollections;
  readonly #transactions: MongoDbTransactions;
  readonly #options: StoreOptions;
  readonly #run: RunStart;
  /** Records inserted or updated by any attempt of this run; see discardAttempt. */
  #changed = 0;
  /**
   * No id above this can be stored: the collection's highest id when the run began, raised by every batch
   * the run writes (attempts that failed included, as their writes stay). Only one run writes at a time (the
   * lease); should another overlap it, an id that run inserted meanwhile fails our insert on the key, and
   * is planned again below, as in any race.
   */
  #highestStored: number;

  constructor(collections: MongoDbCollections, transactions: MongoDbTransactions, options: StoreOptions, run: RunStart, highestStored: number) {
    this.#collections = collections;
    this.#transactions = transactions;
    this.#options = options;
    this.#run = run;
    this.#highestStored = highestStored;
  }

  async write(posts: readonly Post[]): Promise<void> {
    let pending = lastOccurrences(posts);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const ids = pending.map((post) => post.id);
      // A batch wholly above every stored id (a first load, or new records of an upstream whose ids grow) has
      // nothing to read back. On FerretDB, which scans the collection for each find, the reads were nine
      // tenths of a first run of 10,000 records (1.7 to 1.9 s of 1.9 to 2.2, measured alone).
      const span = idSpan(ids);
      const isAllNew = span.min > this.#highestStored;
      this.#highestStored = Math.max(this.#highestStored, span.max);
      const stored = isAllNew ? [] : await callMongo('read posts', () => readStoredContent(this.#collections.records, ids, span));
      const { operations, posts: planned } = plannedWrites(pending, stored);
      if (operations.length === 0) return;
      await this.#refuseIfSuperseded('write posts');
      const outcome = await callMongo('write posts', () => bulkWrite(this.#collections, operations));
      this.#changed += outcome.changed;
      // Two writers inserted one new id at once and ours lost: the record exists now, so planning it again
      // updates it if it differs. The loser of a race is the one that retries, so this settles quickly.
      pending = outcome.duplicateKeyIndexes.map((operation) => planned[operation] as Post);
      if (pending.length > 0 && attempt >= MONGODB_DEFAULTS.duplicateKeyAttempts) {
        throw new StoreUnavailableError('write posts', { cause: outcome.error });
      }
    }
  }

  /**
   * Nothing to roll back: what the broken attempt wrote stays, and the retry writes the same records over it.
   * The count of changed records is kept, since those records were changed by this run all the same.
   */
  async discardAttempt(): Promise<void> {}

  async commit(result: RunSuccess): Promise<RunCommitted> {
    await this.#refuseIfSuperseded('commit run');
    const { runId, startedAt } = this.#run;
    const { source } = this.#options;
    // The records are written already: the run ends here.
    const finishedAt = result.finishedAt();
    const duration = durationMs(startedAt, finishedAt);
    const recordsChanged = this.#changed;
    await this.#transactions.run('commit run', async (session) => {
      const { runs, status } = this.#collections;
      await runs.updateOne(
        { _id: runId },
        {
          $set: {
            status: 'success',
            error: null,
            finished_at: finishedAt,
            duration_ms: duration,
            records_ingested: result.recordsIngested,
            records_rejected: result.recordsRejected,
            records_changed: recordsChanged,
          },
        },
        { session },
      );
      // A slower, older run never replaces the success of a newer one...
      await status.updateOne(
        { _id: source, $or: [{ last_successful_run: null }, { last_successful_run: { $lte: startedAt } }] },
        { $set: { last_successful_run: startedAt, records_ingested: result.recordsIngested, records_rejected: result.recordsRejected } },
        { session },
      );
      // ...nor the state of a run that began after it. Without transactions this is the commit marker.
      await status.updateOne(
        { _id: source, current_run_id: runId },
        { $set: { status: 'success', last_error: null, last_duration_ms: duration } },
        { session },
      );
      await this.#pruneRuns(session);
    });
    return { recordsChanged, finishedAt };
  }

  async abort(result: RunFailure): Promise<void> {
    const { runId, startedAt } = this.#run;
    const duration = durationMs(startedAt, result.finishedAt);
    await this.#transactions.run('abort run', async (session) => {
      const { runs, status } = this.#collections;
      // A run that committed stays a success (see RunWriter.abort).
      await runs.updateOne(
        { _id: runId, status: { $ne: 'success' } },
        // What it wrote stays (nothing rolls back here), so it is counted as a success's would be.
        {
          $set: {
            status: 'failed',
            finished_at: result.finishedAt,
            duration_ms: duration,
            records_rejected: result.recordsRejected,
            records_changed: this.#changed,
            error: result.error,
          },
        },
        { session },
      );
      await status.updateOne(
        { _id: this.#options.source, current_run_id: runId, status: { $ne: 'success' } },
        { $set: { status: 'failed', last_error: result.error, last_duration_ms: duration } },
        { session },
      );
      await this.#pruneRuns(session);
    });
  }

  /**
   * Fails the run once a later run has begun (this one's lease lapsed while it stalled, and another replica
   * took over): its records are older than that run's, and must not be written over them. Asked before each
   * write, a read of one document; a stall between this read and the write can still let one batch through,
   * which the next run puts right (docs/mongodb.md).
   */
  async #refuseIfSuperseded(operation: string): Promise<void> {
    const status = await callMongo(operation, () =>
      this.#collections.status.findOne({ _id: this.#options.source }, { projection: { current_run_id: 1 } }),
    );
    if (status !== null && status.current_run_id !== this.#run.runId) throw new RunSupersededError({ atomicRuns: false });
  }

  /** Keeps the newest `runHistoryLimit` runs of the source, in the order /runs shows them. */
  async #pruneRuns(session: ClientSession | undefined): Promise<void> {
    const { source, runHistoryLimit } = this.#options;
    const { runs } = this.#collections;
    const extra = await runs
      .find({ source }, { projection: { _id: 1 }, session })
      .sort({ started_at: -1, _id: -1 })
      .skip(runHistoryLimit)
      .toArray();
    if (extra.length > 0) await runs.deleteMany({ _id: { $in: extra.map((run: Pick<RunDocument, '_id'>) => run._id) } }, { session });
  }
}

interface BulkOutcome {
  /** Records inserted or updated. */
  readonly changed: number;
  /** Operations refused only because another writer inserted the same id first. */
  readonly duplicateKeyIndexes: readonly number[];
  readonly error?: unknown;
}

/** One unordered bulk write; a failure that is only duplicate keys is an outcome, anything else throws. */
async function bulkWrite(collections: MongoDbCollections, operations: AnyBulkWriteOperation<Document>[]): Promise<BulkOutcome> {
  try {
    const result = await collections.records.bulkWrite(operations, { ordered: false });
    return { changed: result.insertedCount + result.modifiedCount, duplicateKeyIndexes: [] };
  } catch (error) {
    const indexes = duplicateKeyIndexes(error);
    if (indexes === undefined) throw error;
    const { result } = error as { result: { insertedCount: number; modifiedCount: number } };
    return { changed: result.insertedCount + result.modifiedCount, duplicateKeyIndexes: indexes, error };
  }
}
