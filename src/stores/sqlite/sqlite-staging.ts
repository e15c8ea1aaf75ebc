import type Database from 'better-sqlite3';
import { RunSupersededError } from '../../errors.js';
import { durationMs, type Post, type RunCommitted, type RunStart, type StoreOptions } from '../store.js';
import { lastOccurrences } from '../last-occurrences.js';
import { idSpan, NOTHING_STAGED, stagingPlan, type StoredContent } from '../post-changes.js';
import type { SqliteWrites } from './sqlite-writes.js';

/** A successful run's totals; its `finished_at` is asked for once the records are merged. */
export interface RunTotals {
  readonly recordsIngested: number;
  readonly recordsRejected: number;
}

/**
 * One run on the writer thread's connection (sqlite-writer-worker.ts). It records the run as `running`,
 * stages the run's new and changed posts in a TEMP table (private to the connection, and holding no lock on
 * the database), then merges them and records the status in one short IMMEDIATE transaction. The write lock
 * is held for the merge only, never while the upstream streams, so other connections are not kept waiting.
 *
 * Each batch first reads the stored copies of its ids and compares them in JavaScript (post-changes.ts), so a
 * re-run over unchanged data stages nothing. The comparison is exact because the run lease lets one run write
 * at a time; the merge compares again all the same, so a record changed meanwhile is never overwritten with an
 * older copy unnoticed.
 */
export class SqliteStaging {
  readonly #db: Database.Database;
  readonly #options: StoreOptions;
  readonly #writes: SqliteWrites;
  readonly #run: RunStart;
  readonly #readStored: Database.Statement;
  readonly #readStoredRange: Database.Statement;
  readonly #stage: Database.Statement;
  readonly #unstage: Database.Statement;
  /** Empties the stage: at a run's start, when an attempt is discarded, and once the run ends. */
  readonly #clearStage: Database.Statement;
  /** The highest id this attempt staged: no id above it can be in the stage. */
  #highestStaged = NOTHING_STAGED;

  constructor(db: Database.Database, options: StoreOptions, writes: SqliteWrites, run: RunStart) {
    this.#db = db;
    this.#options = options;
    this.#writes = writes;
    this.#run = run;
    const { tableName: table, source } = options;
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS stage_posts (
      id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
      ingested_at TEXT NOT NULL, source TEXT NOT NULL)`);
    this.#clearStage = db.prepare('DELETE FROM temp.stage_posts');
    this.#clearStage.run();
    const stored = `SELECT id, user_id, title, body, source FROM main."${table}"`;
    this.#readStored = db.prepare(`${stored} WHERE id IN (SELECT value FROM json_each(?))`).raw();
    this.#readStoredRange = db.prepare(`${stored} WHERE id BETWEEN ? AND ?`).raw();
    // A statement per post, bound rather than parsed from JSON: SQLite binds six values faster than it
    // extracts six fields from a JSON text, and the batch runs in one transaction of the temp database.
    this.#stage = db.prepare('INSERT INTO temp.stage_posts (id, user_id, title, body, ingested_at, source) VALUES (?, ?, ?, ?, ?, ?)');
    this.#unstage = db.prepare('DELETE FROM temp.stage_posts WHERE id = ?');
    // Recorded last: a statement that cannot be prepared (a table altered by hand) leaves no `running` run behind.
    db.transaction(() => {
      const replica = run.replica ?? null;
      db.prepare(`INSERT INTO "${table}_runs" (run_id, source, status, started_at, replica) VALUES (?, ?, 'running', ?, ?)`).run(
        run.runId,
        source,
        run.startedAt,
        replica,
      );
      db.prepare(
        `INSERT INTO "${table}_status" (source, status, current_run_id, last_attempt, last_run_replica) VALUES (?, 'running', ?, ?, ?)
         ON CONFLICT (source) DO UPDATE SET status = 'running', current_run_id = excluded.current_run_id,
           last_attempt = excluded.last_attempt, last_run_replica = excluded.last_run_replica`,
      ).run(source, run.runId, run.startedAt, replica);
    }).immediate();
  }

  get runId(): string {
    return this.#run.runId;
  }

  /**
   * A later copy of an id replaces an earlier one, within a batch and across batches; when the later copy
   * equals the stored post, the earlier staged change is dropped, so the stored post stays as it is.
   */
  write(posts: readonly Post[]): void {
    const batch = lastOccurrences(posts);
    const { added, changed, leaving, highestStaged } = stagingPlan(batch, this.#storedCopies(batch), this.#highestStaged);
    if (added.length + changed.length + leaving.length === 0) return;
    this.#db.transaction(() => {
      for (const id of leaving) this.#unstage.run(id);
      for (const posts of [added, changed]) {
        for (const post of posts) this.#stage.run(post.id, post.userId, post.title, post.body, post.ingested_at, post.source);
      }
    })();
    this.#highestStaged = highestStaged;
  }

  /** The stored copies of the batch's ids: dense ids (see idSpan) in one range scan, a sparse batch id by id. */
  #storedCopies(batch: readonly Post[]): StoredContent[] {
    const ids = batch.map((post) => post.id);
    const { min, max, dense } = idSpan(ids);
    if (dense) return this.#readStoredRange.all(min, max) as StoredContent[];
    return this.#readStored.all(JSON.stringify(ids)) as StoredContent[];
  }

  discardAttempt(): void {
    this.#clearStage.run();
    this.#highestStaged = NOTHING_STAGED;
  }

  /**
   * Merges the stage and records the success in one IMMEDIATE transaction. `finishedAt` is asked for once the
   * records are merged, so the run's duration covers the merge; the connection is this run's alone, so the
   * transaction may wait for the answer without anything else joining it.
   */
  async commit(totals: RunTotals, finishedAt: () => Promise<string>): Promise<RunCommitted> {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    const { runId, startedAt } = this.#run;
    db.exec('BEGIN IMMEDIATE');
    try {
      // An unchanged record is left alone, so it keeps the ingested_at of the run that last changed it.
      const { changes } = db
        .prepare(
          `INSERT INTO "${table}" (id, user_id, title, body, ingested_at, source)
           SELECT id, user_id, title, body, ingested_at, source FROM temp.stage_posts WHERE true
           ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, title = excluded.title, body = excluded.body,
             ingested_at = excluded.ingested_at, source = excluded.source
           WHERE "${table}".user_id IS NOT excluded.user_id OR "${table}".title IS NOT excluded.title
             OR "${table}".body IS NOT excluded.body OR "${table}".source IS NOT excluded.source`,
        )
        .run();
      const finished = await finishedAt();
      const duration = durationMs(startedAt, finished);
      db.prepare(
        `UPDATE "${table}_runs" SET status = 'success', error = NULL, finished_at = ?, duration_ms = ?, records_ingested = ?,
           records_rejected = ?, records_changed = ? WHERE run_id = ?`,
      ).run(finished, duration, totals.recordsIngested, totals.recordsRejected, changes, runId);
      // A slower, older run never replaces the success of a newer one...
      db.prepare(
        `UPDATE "${table}_status" SET last_successful_run = ?, records_ingested = ?, records_rejected = ?
         WHERE source = ? AND (last_successful_run IS NULL OR last_successful_run <= ?)`,
      ).run(startedAt, totals.recordsIngested, totals.recordsRejected, source, startedAt);
      // ...nor the state of a run that began after it, and then its records, older than that run's, stay out.
      const current = db
        .prepare(
          `UPDATE "${table}_status" SET status = 'success', last_error = NULL, last_duration_ms = ?
           WHERE source = ? AND current_run_id = ?`,
        )
        .run(duration, source, runId);
      if (current.changes === 0) throw new RunSupersededError({ atomicRuns: true });
      this.#writes.pruneRuns();
      this.#clearStage.run();
      db.exec('COMMIT');
      return { recordsChanged: changes, finishedAt: finished };
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
}
