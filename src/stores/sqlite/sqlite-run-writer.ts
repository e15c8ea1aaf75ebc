import type Database from 'better-sqlite3';
import type { Post, RunFailure, RunStart, RunSuccess, RunWriter, StoreOptions } from '../store.js';
import { guard } from './sqlite-store.js';

/**
 * Stages a run's posts in a TEMP table of the writer connection (private to it, and holding no lock on the
 * database), then merges them and records the status in one short IMMEDIATE transaction. The write lock is
 * held for the merge only, never while the upstream streams, so other processes are not kept waiting.
 */
export class SqliteRunWriter implements RunWriter {
  readonly #db: Database.Database;
  readonly #options: StoreOptions;
  readonly #run: RunStart;
  readonly #stage: Database.Statement;

  constructor(db: Database.Database, options: StoreOptions, run: RunStart) {
    this.#db = db;
    this.#options = options;
    this.#run = run;
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS stage_posts (
      id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
      ingested_at TEXT NOT NULL, source TEXT NOT NULL)`);
    db.exec('DELETE FROM temp.stage_posts');
    // One statement per batch: the batch travels as one JSON text and json_each unrolls it inside SQLite.
    // INSERT OR REPLACE keeps the last of duplicate ids within a response.
    this.#stage = db.prepare(`INSERT OR REPLACE INTO temp.stage_posts (id, user_id, title, body, ingested_at, source)
      SELECT value ->> 'id', value ->> 'userId', value ->> 'title', value ->> 'body', value ->> 'ingested_at', value ->> 'source'
      FROM json_each(?)`);
  }

  async write(posts: readonly Post[]): Promise<void> {
    guard('stage posts', () => this.#stage.run(JSON.stringify(posts)));
  }

  async discardAttempt(): Promise<void> {
    guard('discard attempt', () => this.#db.exec('DELETE FROM temp.stage_posts'));
  }

  async commit(result: RunSuccess): Promise<{ recordsChanged: number | null }> {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    const { runId, startedAt } = this.#run;
    const durationMs = Date.parse(result.finishedAt) - Date.parse(startedAt);
    const recordsChanged = guard('commit run', () =>
      db
        .transaction(() => {
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
          db.prepare(
            `UPDATE "${table}_runs" SET status = 'success', finished_at = ?, duration_ms = ?, records_ingested = ?,
               records_rejected = ?, records_changed = ? WHERE run_id = ?`,
          ).run(result.finishedAt, durationMs, result.recordsIngested, result.recordsRejected, changes, runId);
          // A slower, older run never replaces the success of a newer one...
          db.prepare(
            `UPDATE "${table}_status" SET last_successful_run = ?, records_ingested = ?, records_rejected = ?
             WHERE source = ? AND (last_successful_run IS NULL OR last_successful_run <= ?)`,
          ).run(startedAt, result.recordsIngested, result.recordsRejected, source, startedAt);
          // ...nor the state of a run that began after it.
          db.prepare(
            `UPDATE "${table}_status" SET status = 'success', last_error = NULL, last_duration_ms = ?
             WHERE source = ? AND current_run_id = ?`,
          ).run(durationMs, source, runId);
          this.#pruneRuns();
          return changes;
        })
        .immediate(),
    );
    guard('clear staging', () => db.exec('DELETE FROM temp.stage_posts'));
    return { recordsChanged };
  }

  async abort(result: RunFailure): Promise<void> {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    const { runId, startedAt } = this.#run;
    const durationMs = Date.parse(result.finishedAt) - Date.parse(startedAt);
    guard('abort run', () => {
      db.exec('DELETE FROM temp.stage_posts');
      db.transaction(() => {
        db.prepare(
          `UPDATE "${table}_runs" SET status = 'failed', finished_at = ?, duration_ms = ?, records_rejected = ?, error = ?
           WHERE run_id = ?`,
        ).run(result.finishedAt, durationMs, result.recordsRejected, result.error, runId);
        db.prepare(
          `UPDATE "${table}_status" SET status = 'failed', last_error = ?, last_duration_ms = ?
           WHERE source = ? AND current_run_id = ?`,
        ).run(result.error, durationMs, source, runId);
        this.#pruneRuns();
      }).immediate();
    });
  }

  #pruneRuns(): void {
    const { tableName: table, source, runHistoryLimit } = this.#options;
    this.#db
      .prepare(
        `DELETE FROM "${table}_runs" WHERE source = ? AND run_id NOT IN
           (SELECT run_id FROM "${table}_runs" WHERE source = ? ORDER BY started_at DESC LIMIT ?)`,
      )
      .run(source, source, runHistoryLimit);
  }
}
