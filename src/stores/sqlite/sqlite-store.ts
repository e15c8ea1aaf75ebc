import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { errorCode, StoreSetupError, StoreUnavailableError } from '../../errors.js';
import {
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
import { newerSchema, schemaMismatch, serviceTables } from '../sql-tables.js';
import { byPrimaryCode, lastingRefusal } from './sqlite-refusals.js';
import { SqliteRunWriter } from './sqlite-run-writer.js';
import { sqliteMigrations } from './sqlite-schema.js';
import type { WriterRequest } from './sqlite-writer-protocol.js';
import { SqliteWriterThread } from './sqlite-writer-thread.js';

export interface SqliteStoreConfig extends StoreOptions {
  /** Database file; its directory is created. `:memory:` is refused: readers need a second connection. */
  readonly path: string;
}

/** How long reads may share a snapshot; see #read. */
const READ_SNAPSHOT_MS = 20;

const POST_COLUMNS = 'user_id AS userId, id, title, body, ingested_at, source';

/**
 * SQLite through better-sqlite3, in WAL mode with two connections: the reader that serves the API, on this
 * thread, and the writer, on a worker thread of its own (sqlite-writer-thread.ts), which runs migrations,
 * the lease, each run's staging and merge, and the checkpoints. WAL lets the reader see the last committed
 * state while a run writes, so a run in progress is never visible; and no write, however large, blocks the
 * event loop.
 */
export class SqliteStore implements Store {
  readonly name = 'sqlite';
  readonly capabilities = { atomicRuns: true } as const;
  readonly #config: SqliteStoreConfig;
  #writer: SqliteWriterThread | undefined;
  #reader: Database.Database | undefined;
  readonly #readerStatements = new Map<string, Database.Statement>();
  /** Writes made through this store (and its run writers), so reads know when their snapshot is behind. */
  #writes = 0;
  /** `#writes` when the reader's current snapshot began. */
  #snapshotWrites = 0;
  /** The database file opened (device and inode), to notice it deleted or replaced under the service. */
  #file: { readonly dev: number; readonly ino: number } | undefined;

  constructor(config: SqliteStoreConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const { path, tableName, source, batchSize, runHistoryLimit } = this.#config;
    try {
      makeFolders(dirname(resolve(path)));
    } catch (error) {
      throw openFailure(error);
    }
    useDatabaseFolderForTemporaryFiles(path);
    const writer = new SqliteWriterThread({ path, options: { tableName, source, batchSize, runHistoryLimit } });
    try {
      // The writer creates the file and the tables; the reader needs both.
      await writer.request('open', { op: 'migrate' });
      const reader = new Database(path, { fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
      this.#reader = reader;
      this.#writer = writer;
      const { dev, ino } = statSync(path);
      this.#file = { dev, ino };
      this.#checkSchema(reader);
    } catch (error) {
      // A store that could not start keeps no thread, so the process can exit.
      this.#reader?.close();
      this.#reader = undefined;
      this.#writer = undefined;
      await writer.close();
      throw error instanceof StoreSetupError ? error : openFailure(error);
    }
  }

  /** Refuses tables a newer version migrated, or that lack what this service needs (sql-tables.ts). */
  #checkSchema(reader: Database.Database): void {
    const table = this.#config.tableName;
    const { applied } = reader.prepare(`SELECT COALESCE(MAX(version), 0) AS applied FROM "${table}_migrations"`).get() as { applied: number };
    const newer = newerSchema(applied, sqliteMigrations(table).length);
    if (newer) throw new StoreSetupError('TABLE_NAME', newer);
    // A table that does not exist has no columns, and is left out, as PostgreSQL's catalog leaves it out.
    const found = serviceTables(table)
      .map((name) => [name, reader.pragma(`table_info("${name}")`) as Array<{ name: string; pk: number }>] as const)
      .filter(([, columns]) => columns.length > 0);
    const columns = new Map(found.map(([name, info]) => [name, new Set(info.map((column) => column.name))]));
    const recordsPrimaryKey = (found.find(([name]) => name === table)?.[1] ?? [])
      .filter((column) => column.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((column) => column.name);
    const mismatch = schemaMismatch(table, { columns, recordsPrimaryKey });
    if (mismatch) throw new StoreSetupError('TABLE_NAME', mismatch);
  }

  async close(): Promise<void> {
    this.#endSnapshot();
    this.#readerStatements.clear();
    this.#reader?.close();
    this.#reader = undefined;
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.close();
  }

  async ping(): Promise<void> {
    this.#refuseIfFileMoved('ping');
    guard('ping', () => this.#reading('SELECT 1').get());
  }

  /**
   * SQLite goes on reading and writing a database file deleted or replaced under it (its open handles keep
   * the old one), and would report runs stored that a restart then cannot find. So /ready (ping) and each
   * run's begin look at SQLITE_PATH first: the replica leaves the load balancer and its runs fail saying why,
   * until it is restarted onto the file there.
   */
  #refuseIfFileMoved(operation: string): void {
    const opened = this.#file;
    if (!opened) return;
    const current = statSync(this.#config.path, { throwIfNoEntry: false });
    if (current?.dev === opened.dev && current.ino === opened.ino) return;
    throw new StoreUnavailableError(operation, { refusal: 'the database file was deleted or replaced while the service ran; restart it to open the file at SQLITE_PATH' });
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
    return this.#write('recover runs', { op: 'recover', finishedAt });
  }

  async beginRun(run: RunStart): Promise<RunWriter> {
    this.#refuseIfFileMoved('begin run');
    const writer = this.#writerThread();
    await this.#write('begin run', { op: 'begin', run });
    return new SqliteRunWriter(writer, run.runId, this.#runEnded);
  }

  /**
   * A run's commit or abort: reads after it must not keep an older snapshot. It ends now rather than at the
   * next read, because a checkpoint stops at the first frame an open snapshot does not see. Runs write most
   * of the WAL, so the end of one is when to checkpoint.
   */
  readonly #runEnded = (): void => {
    this.#writes += 1;
    this.#endSnapshot();
    this.#writer?.checkpoint();
  };

  async acquireLease(request: LeaseRequest): Promise<{ acquired: boolean; lease: LeaseState }> {
    return this.#write('acquire lease', { op: 'acquire-lease', request });
  }

  async renewLease(owner: string, expiresAt: string): Promise<boolean> {
    return this.#write('renew lease', { op: 'renew-lease', owner, expiresAt });
  }

  async releaseLease(owner: string, lastStartedAt?: string): Promise<void> {
    await this.#write('release lease', { op: 'release-lease', owner, lastStartedAt: lastStartedAt ?? null });
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

  /** A write on the writer thread; reads after it see it. */
  async #write<T>(operation: string, request: WriterRequest): Promise<T> {
    try {
      return await this.#writerThread().request<T>(operation, request);
    } finally {
      this.#writes += 1;
    }
  }

  #writerThread(): SqliteWriterThread {
    if (!this.#writer) throw new StoreUnavailableError('store not initialised');
    return this.#writer;
  }
}

/**
 * A run's stage grows past SQLite's cache into a temporary file, which SQLite puts in SQLITE_TMPDIR, else
 * TMPDIR, else /var/tmp. In a container with a read-only root (the usual hardening) the one writable place
 * is the database's folder, so that is the default; an operator's SQLITE_TMPDIR or TMPDIR wins. SQLite reads
 * the variables once, at the first open in the process, which is this store's.
 */
function useDatabaseFolderForTemporaryFiles(path: string): void {
  if (!process.env.SQLITE_TMPDIR && !process.env.TMPDIR) process.env.SQLITE_TMPDIR = dirname(resolve(path));
}

/**
 * Creates `folder` and its missing parents, one at a time from the deepest that exists. Node 20's recursive
 * mkdirSync loops for ever, holding the event loop (SIGTERM included), where a file system answers ENOENT
 * for a folder it will not create under one that exists, as /proc does.
 */
function makeFolders(folder: string): void {
  const missing: string[] = [];
  for (let current = folder; !existsSync(current); current = dirname(current)) missing.unshift(current);
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      // Another replica starting on the same volume may have made it meanwhile.
      if (errorCode(error) !== 'EEXIST' || !statSync(path).isDirectory()) throw error;
    }
  }
}

/** What an operator can fix, by the code SQLite or the file system gave; the path itself stays out of logs. */
const OPEN_FAILURES: Readonly<Record<string, string>> = {
  SQLITE_CANTOPEN: 'the file cannot be opened or created (is it a directory, or in a folder this process cannot write?)',
  SQLITE_NOTADB: 'the file is not a SQLite database',
  SQLITE_CORRUPT: 'the database file is corrupt',
  SQLITE_READONLY: 'the file or its folder is read-only for this process',
  SQLITE_BUSY: 'another process held a lock on the database for longer than 5 s',
  SQLITE_FULL: 'the disk is full',
  EACCES: 'permission denied on its folder',
  EPERM: 'permission denied on its folder',
  EROFS: 'its folder is on a read-only file system',
  ENOTDIR: 'a part of its folder path is a file',
  ENOENT: 'its folder cannot be created there',
  EEXIST: 'a part of its folder path is a file',
  ENOSPC: 'the disk is full',
};

/**
 * better-sqlite3 loads its native module when the first connection opens. Installed with --ignore-scripts,
 * without a prebuilt binary or build tools, or for another Node.js: then no path would do, and the answer
 * must not send the operator to SQLITE_PATH.
 */
function isDriverUnloadable(error: unknown): boolean {
  return errorCode(error) === 'ERR_DLOPEN_FAILED' || (error instanceof Error && error.message.startsWith('Could not locate the bindings file'));
}

function openFailure(error: unknown): StoreSetupError {
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (isDriverUnloadable(cause) || isDriverUnloadable(error)) {
    const reason = "SQLite's driver (better-sqlite3's native module) cannot be loaded: it is missing, or was built for another Node.js or CPU; reinstall the dependencies (npm ci) with the Node.js that runs the service";
    return new StoreSetupError('STORAGE_TYPE', reason, { cause: error });
  }
  // The writer thread's failures come as StoreUnavailableError, with SQLite's code on the cause.
  const code = errorCode(cause) ?? errorCode(error);
  const known = code === undefined ? undefined : byPrimaryCode(OPEN_FAILURES, code);
  return new StoreSetupError('SQLITE_PATH', `${known ?? 'it failed to open'} (${code ?? 'no error code'})`, { cause: error });
}

/** Runs a synchronous database call, turning driver errors into the contract's StoreUnavailableError. */
function guard<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(operation, { cause: error, refusal: lastingRefusal(error) });
  }
}
