import type Database from 'better-sqlite3';
import { durationMs, RUN_END_UNRECORDED, type LeaseRequest, type LeaseState, type RunFailure, type StoreOptions } from '../store.js';
import { sqliteMigrations } from './sqlite-schema.js';

/**
 * The store's writes other than a run's records, on the writer thread's connection: migrations, a run's
 * failure, recovery of runs a dead process left running, the run history's length, and the run lease. Each
 * is one short transaction, or a statement inside the caller's.
 */
export class SqliteWrites {
  readonly #db: Database.Database;
  readonly #options: StoreOptions;

  constructor(db: Database.Database, options: StoreOptions) {
    this.#db = db;
    this.#options = options;
  }

  /** Versioned migrations, each once, inside the transaction that records it, so two processes apply each once. */
  migrate(): void {
    const db = this.#db;
    const table = this.#options.tableName;
    db.exec(`CREATE TABLE IF NOT EXISTS "${table}_migrations" (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`);
    const migrations = sqliteMigrations(table);
    db.transaction(() => {
      const row = db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM "${table}_migrations"`).get() as { v: number };
      migrations.slice(row.v).forEach(({ addColumns = [], sql }, index) => {
        for (const [name, column, type] of addColumns) {
          const columns = db.pragma(`table_info("${name}")`) as Array<{ name: string }>;
          if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE "${name}" ADD COLUMN ${column} ${type}`);
        }
        db.exec(sql);
        db.prepare(`INSERT INTO "${table}_migrations" (version, applied_at) VALUES (?, ?)`).run(row.v + index + 1, new Date().toISOString());
      });
    }).immediate();
  }

  /**
   * Records a running run as failed. It needs nothing but the run's id: the run's stage may be gone, when the
   * writer thread stopped and another took over, or when another run began on this connection, and the run
   * must not stay "running" in the history and the status for as long as the process lives.
   */
  recordFailure(runId: string, result: RunFailure): void {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    db.transaction(() => {
      // A run that committed stays a success (see RunWriter.abort); one recovery marked failed takes this cause.
      const run = db.prepare(`SELECT started_at AS startedAt FROM "${table}_runs" WHERE run_id = ? AND status != 'success'`).get(runId) as
        | { startedAt: string }
        | undefined;
      if (!run) return;
      const duration = durationMs(run.startedAt, result.finishedAt);
      db.prepare(
        `UPDATE "${table}_runs" SET status = 'failed', finished_at = ?, duration_ms = ?, records_rejected = ?, records_changed = 0, error = ?
         WHERE run_id = ?`,
      ).run(result.finishedAt, duration, result.recordsRejected, result.error, runId);
      db.prepare(
        `UPDATE "${table}_status" SET status = 'failed', last_error = ?, last_duration_ms = ?
         WHERE source = ? AND current_run_id = ? AND status != 'success'`,
      ).run(result.error, duration, source, runId);
      this.pruneRuns();
    }).immediate();
  }

  /** Keeps the newest RUN_HISTORY_LIMIT runs of the source; called inside the transaction that ends a run. */
  pruneRuns(): void {
    const { tableName: table, source, runHistoryLimit } = this.#options;
    this.#db
      .prepare(
        `DELETE FROM "${table}_runs" WHERE source = ? AND run_id NOT IN
           (SELECT run_id FROM "${table}_runs" WHERE source = ? ORDER BY started_at DESC LIMIT ?)`,
      )
      .run(source, source, runHistoryLimit);
  }

  recoverInterruptedRuns(finishedAt: string): number {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    return db
      .transaction(() => {
        const { changes } = db
          .prepare(
            `UPDATE "${table}_runs" SET status = 'failed', finished_at = ?, error = ?, duration_ms = NULL, records_changed = 0
             WHERE source = ? AND status = 'running'`,
          )
          .run(finishedAt, RUN_END_UNRECORDED, source);
        db.prepare(`UPDATE "${table}_status" SET status = 'failed', last_error = ?, last_duration_ms = NULL WHERE source = ? AND status = 'running'`).run(
          RUN_END_UNRECORDED,
          source,
        );
        return changes;
      })
      .immediate();
  }

  acquireLease(request: LeaseRequest): { acquired: boolean; lease: LeaseState } {
    const db = this.#db;
    const { tableName: table, source } = this.#options;
    // One upsert whose WHERE is the whole rule, so two processes asking together cannot both win.
    const { changes } = db
      .prepare(
        `INSERT INTO "${table}_lease" (source, owner, expires_at) VALUES (@source, @owner, @expiresAt)
         ON CONFLICT (source) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE (owner IS NULL OR owner = @owner OR expires_at <= @now)
           AND (@dueBy IS NULL OR last_started_at IS NULL OR last_started_at <= @dueBy)`,
      )
      .run({ source, owner: request.owner, expiresAt: request.expiresAt, now: request.now, dueBy: request.dueIfStartedBy ?? null });
    const lease = db
      .prepare(`SELECT owner, expires_at AS expiresAt, last_started_at AS lastStartedAt FROM "${table}_lease" WHERE source = ?`)
      .get(source) as LeaseState;
    return { acquired: changes > 0, lease };
  }

  renewLease(owner: string, expiresAt: string): boolean {
    const { tableName: table, source } = this.#options;
    return this.#db.prepare(`UPDATE "${table}_lease" SET expires_at = ? WHERE source = ? AND owner = ?`).run(expiresAt, source, owner).changes > 0;
  }

  releaseLease(owner: string, lastStartedAt: string | null): void {
    const { tableName: table, source } = this.#options;
    this.#db
      .prepare(
        `UPDATE "${table}_lease" SET owner = NULL, expires_at = NULL, last_started_at = COALESCE(?, last_started_at)
         WHERE source = ? AND owner = ?`,
      )
      .run(lastStartedAt, source, owner);
  }
}
