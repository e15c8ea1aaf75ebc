import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../errors.js';
import {
  INTERRUPTED_BY_CRASH,
  NEVER_RUN,
  type IngestionStatus,
  type LeaseRequest,
  type LeaseState,
  type Post,
  type PostPage,
  type Run,
  type RunStart,
  type RunWriter,
  type Store,
  type StoreOptions,
} from '../store.js';
import { sqliteMigrations } from './sqlite-schema.js';
import { SqliteRunWriter } from './sqlite-run-writer.js';
import { WalCheckpointer } from './wal-checkpointer.js';

export interface SqliteStoreConfig extends StoreOptions {
  /** Database file; its directory is created. `:memory:` is refused: readers need a second connection. */
  readonly path: string;
}

/** How long reads may share a snapshot; see #read. */
const READ_SNAPSHOT_MS = 20;

const POST_COLUMNS = 'user_id AS userId, id, title, body, ingested_at, source';

/**
 * SQLite through better-sqlite3, in WAL mode with two connections: the writer, which holds a run's staging
 * table and transaction, and the reader that serves the API. WAL lets the reader see the last committed
 * state while a run writes, so a run in progress is never visible.
 */
export class SqliteStore implements Store {
  readonly name = 'sqlite';
  readonly capabilities = { atomicRuns: true } as const;
  readonly #config: SqliteStoreConfig;
  #writer: Database.Database | undefined;
  #reader: Database.Database | undefined;
  #checkpointer: WalCheckpointer | undefined;
  readonly #readerStatements = new Map<string, Database.Statement>();
  /** Writes made through this store (and its run writers), so reads know when their snapshot is behind. */
  #writes = 0;
  /** `#writes` when the reader's current snapshot began. */
  #snapshotWrites = 0;

  constructor(config: SqliteStoreConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const { path, tableName } = this.#config;
    guard('open', () => {
      mkdirSync(dirname(path), { recursive: true });
      const writer = new Database(path);
      writer.pragma('journal_mode = WAL');
      // NORMAL loses no committed transaction on a process crash in WAL mode, only on power loss.
      writer.pragma('synchronous = NORMAL');
      writer.pragma('busy_timeout = 5000');
      this.#writer = writer;
      this.#checkpointer = new WalCheckpointer(writer, path);
      this.#migrate(writer, tableName);
      const reader = new Database(path, { fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
      this.#reader = reader;
    });
  }

  #migrate(db: Database.Database, table: string): void {
    db.exec(`CREATE TABLE IF NOT EXISTS "${table}_migrations" (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`);
    const migrations = sqliteMigrations(table);
    const apply = db.transaction(() => {
      const row = db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM "${table}_migrations"`).get() as { v: number };
      migrations.slice(row.v).forEach((sql, index) => {
        db.exec(sql);
        db.prepare(`INSERT INTO "${table}_migrations" (version, applied_at) VALUES (?, ?)`).run(row.v + index + 1, new Date().toISOString());
      });
    });
    apply.immediate();
  }

  async close(): Promise<void> {
    this.#endSnapshot();
    this.#readerStatements.clear();
    this.#reader?.close();
    this.#writer?.close();
    this.#reader = undefined;
    this.#writer = undefined;
    await this.#checkpointer?.close();
    this.#checkpointer = undefined;
  }

  async ping(): Promise<void> {
    guard('ping', () => this.#reading('SELECT 1').get());
  }

  async listPosts(page: PostPage): Promise<Post[]> {
    const table = this.#config.tableName;
    return guard('list posts', () =>
      page.after === undefined
        ? (this.#reading(`SELECT ${POST_COLUMNS} FROM "${table}" ORDER BY id LIMIT ? OFFSET ?`).all(page.limit, page.offset) as Post[])
        : (this.#reading(`SELECT ${POST_COLUMNS} FROM "${table}" WHERE id > ? ORDER BY id LIMIT ?`).all(page.after, page.limit) as Post[]),
    );
  }

  async getPost(id: number): Promise<Post | undefined> {
    return guard('get post', () => this.#reading(`SELECT ${POST_COLUMNS} FROM "${this.#config.tableName}" WHERE id = ?`).get(id) as Post | undefined);
  }

  async getStatus(): Promise<IngestionStatus> {
    const row = guard('read status', () =>
      this.#reading(
          `SELECT status, last_attempt, last_successful_run, records_ingested, records_rejected, last_error, last_duration_ms, last_run_replica
           FROM "${this.#config.tableName}_status" WHERE source = ?`,
        )
        .get(this.#config.source) as IngestionStatus | undefined,
    );
    return row ? { ...NEVER_RUN, ...row } : NEVER_RUN;
  }

  async listRuns(limit: number): Promise<Run[]> {
    return guard('list runs', () =>
      this.#reading(`SELECT * FROM "${this.#config.tableName}_runs" WHERE source = ? ORDER BY started_at DESC, run_id DESC LIMIT ?`)
        .all(this.#config.source, limit) as Run[],
    );
  }

  async recoverInterruptedRuns(finishedAt: string): Promise<number> {
    const { tableName: table, source } = this.#config;
    return guard('recover runs', () => {
      const db = this.#write();
      return db
        .transaction(() => {
          const { changes } = db
            .prepare(
              `UPDATE "${table}_runs" SET status = 'failed', finished_at = ?, error = ?,
                 duration_ms = CAST((julianday(?) - julianday(started_at)) * 86400000 AS INTEGER)
               WHERE source = ? AND status = 'running'`,
            )
            .run(finishedAt, INTERRUPTED_BY_CRASH, finishedAt, source);
          db.prepare(`UPDATE "${table}_status" SET status = 'failed', last_error = ? WHERE source = ? AND status = 'running'`).run(
            INTERRUPTED_BY_CRASH,
            source,
          );
          return changes;
        })
        .immediate();
    });
  }

  async beginRun(run: RunStart): Promise<RunWriter> {
    const db = this.#write();
    const { tableName: table, source } = this.#config;
    guard('begin run', () =>
      db
        .transaction(() => {
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
        })
        .immediate(),
    );
    return new SqliteRunWriter(db, this.#config, run, this.#runEnded);
  }

  /**
   * A run's commit or abort: reads after it must not keep an older snapshot. It ends now rather than at the
   * next read, because a checkpoint stops at the first frame an open snapshot does not see. Runs write most
   * of the WAL, so the end of one is when to checkpoint.
   */
  readonly #runEnded = (): void => {
    this.#writes += 1;
    this.#endSnapshot();
    this.#checkpointer?.request();
  };

  async acquireLease(request: LeaseRequest): Promise<{ acquired: boolean; lease: LeaseState }> {
    const { tableName: table, source } = this.#config;
    const db = this.#write();
    return guard('acquire lease', () => {
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
    });
  }

  async renewLease(owner: string, expiresAt: string): Promise<boolean> {
    const { tableName: table, source } = this.#config;
    const db = this.#write();
    return guard('renew lease', () => db.prepare(`UPDATE "${table}_lease" SET expires_at = ? WHERE source = ? AND owner = ?`).run(expiresAt, source, owner).changes > 0);
  }

  async releaseLease(owner: string, lastStartedAt?: string): Promise<void> {
    const { tableName: table, source } = this.#config;
    const db = this.#write();
    guard('release lease', () =>
      db
        .prepare(
          `UPDATE "${table}_lease" SET owner = NULL, expires_at = NULL, last_started_at = COALESCE(?, last_started_at)
           WHERE source = ? AND owner = ?`,
        )
        .run(lastStartedAt ?? null, source, owner),
    );
  }

  /** The reader's statements are prepared once: the API's hot path should not parse SQL on every request. */
  #reading(sql: string): Database.Statement {
    const reader = this.#read();
    let statement = this.#readerStatements.get(sql);
    if (!statement) {
      statement = reader.prepare(sql);
      this.#readerStatements.set(sql, statement);
    }
    return statement;
  }

  /**
   * The reader's statements share one read transaction, one snapshot, for up to READ_SNAPSHOT_MS. Opening and
   * closing a read transaction around every statement (fcntl locks and a stat of the file each time) cost
   * more than the lookup itself: sharing it served about a quarter more GET /posts/{id} a second. A write
   * through this store ends the snapshot, so this process reads its own writes at once; a commit by another
   * process shows within READ_SNAPSHOT_MS. Ending it often also lets checkpoints recycle the WAL.
   */
  #read(): Database.Database {
    const reader = this.#reader;
    if (!reader) throw new StoreUnavailableError('store not initialised');
    if (reader.inTransaction && this.#snapshotWrites !== this.#writes) this.#endSnapshot();
    if (!reader.inTransaction) {
      reader.exec('BEGIN');
      this.#snapshotWrites = this.#writes;
      setTimeout(this.#endSnapshot, READ_SNAPSHOT_MS).unref();
    }
    return reader;
  }

  readonly #endSnapshot = (): void => {
    if (this.#reader?.inTransaction) this.#reader.exec('COMMIT');
  };

  #write(): Database.Database {
    if (!this.#writer) throw new StoreUnavailableError('store not initialised');
    this.#writes += 1;
    return this.#writer;
  }
}

/** Runs a synchronous database call, turning driver errors into the contract's StoreUnavailableError. */
export function guard<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(operation, { cause: error });
  }
}
