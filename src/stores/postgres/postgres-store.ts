import pg from 'pg';
import { StoreSetupError, StoreUnavailableError } from '../../errors.js';
import { withRetry } from '../../retry/retry.js';
import {
  RUN_END_UNRECORDED,
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
} from '../store.js';
import { batchedLookups } from '../batched-lookups.js';
import { RunClient, withPooledTransaction, type Queryable } from './postgres-client.js';
import { classifyConnectError, describeConnectFailure, describeTarget, guard } from './postgres-errors.js';
import { PostgresRunWriter } from './postgres-run-writer.js';
import { newerSchema, schemaMismatch, serviceTables, type FoundSchema } from '../sql-tables.js';
import { migrationLockKey, migrationsTableSql, postgresMigrations, quoteIdentifier as q } from './postgres-schema.js';
import { DEFAULT_LOCK_TIMEOUT_MS, type PostgresStoreConfig } from './postgres-store-config.js';

const POST_COLUMNS = 'user_id AS "userId", id, title, body, ingested_at, source';
const RUN_COLUMNS =
  'run_id, source, status, started_at, finished_at, duration_ms, records_ingested, records_rejected, records_changed, error, replica';
const LEASE_COLUMNS = 'owner, expires_at AS "expiresAt", last_started_at AS "lastStartedAt"';
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * PostgreSQL through `pg`, with one pool for the API's reads and for each run's dedicated connection. MVCC
 * gives readers the last committed state while a run writes, and a run's records become visible together
 * with its status, in one transaction. The pool reconnects by itself after an outage; meanwhile every call
 * fails with StoreUnavailableError.
 */
export class PostgresStore implements Store {
  readonly name = 'postgresql';
  readonly capabilities = { atomicRuns: true } as const;
  readonly #config: PostgresStoreConfig;
  readonly #runClients = new Set<RunClient>();
  #pool: pg.Pool | undefined;
  readonly #lookUpPost = batchedLookups((ids) =>
    this.#read<Post>('get post', 'posts-by-ids', `SELECT ${POST_COLUMNS} FROM ${q(this.#config.tableName)} WHERE id = ANY($1::integer[])`, [ids]),
  );

  constructor(config: PostgresStoreConfig) {
    this.#config = config;
  }

  /** Connects (retrying with the configured policy while the server is unreachable) and migrates. */
  async init(): Promise<void> {
    const pool = (this.#pool ??= this.#createPool());
    let attempts = 0;
    try {
      await withRetry(
        async (attempt) => {
          attempts = attempt;
          await withPooledTransaction(pool, (client) => this.#migrate(client));
        },
        { policy: this.#config.connectRetry, classify: classifyConnectError },
      );
    } catch (error) {
      // A store that could not start keeps no pool, so the process can exit; a later init() starts afresh.
      if (this.#pool === pool) this.#pool = undefined;
      await pool.end().catch(() => undefined);
      if (error instanceof StoreSetupError) throw error;
      const reason = `PostgreSQL at ${describeTarget(this.#config.uri)}: ${describeConnectFailure(error)}, gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
      // A wrong password or a missing database is a setting to fix; a server out of reach, a moment to wait for.
      if (!classifyConnectError(error).retryable) throw new StoreSetupError('POSTGRES_URI', reason, { cause: error });
      throw new StoreUnavailableError(reason, { cause: error });
    }
  }

  #createPool(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.#config.uri,
      max: this.#config.poolSize,
      connectionTimeoutMillis: this.#config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // A table locked by another session (a migration, a LOCK TABLE left open) would hold reads, probes, lease
      // renewals and the run's statements for as long as it lasts: with a bound, each fails as STORE_UNAVAILABLE
      // instead, the pool stays free, and a run fails truthfully rather than outliving RUN_TIMEOUT.
      lock_timeout: this.#config.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      keepAlive: true,
    });
    // An idle client's connection died (server restart, network cut). The pool has already dropped it and
    // opens a new connection on the next query; without a listener, Node would crash the process instead.
    pool.on('error', () => undefined);
    return pool;
  }

  /** Under an advisory lock held to the end of the transaction, so concurrent replicas migrate one at a time. */
  async #migrate(client: Queryable): Promise<void> {
    const table = this.#config.tableName;
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(table)]);
    // Checked before creating: CREATE TABLE IF NOT EXISTS needs the CREATE privilege on the schema even when
    // the table exists, and a service that only reads and writes its tables should not need it.
    const { rows: found } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [
      q(`${table}_migrations`),
    ]);
    if (!found[0]?.exists) await client.query(migrationsTableSql(table));
    const { rows } = await client.query<{ version: number }>(
      `SELECT COALESCE(MAX(version), 0)::integer AS version FROM ${q(`${table}_migrations`)}`,
    );
    const applied = rows[0]?.version ?? 0;
    const migrations = postgresMigrations(table);
    const newer = newerSchema(applied, migrations.length);
    if (newer) throw new StoreSetupError('TABLE_NAME', newer);
    for (let version = applied + 1; version <= migrations.length; version++) {
      await client.query(migrations[version - 1] as string);
      await client.query(`INSERT INTO ${q(`${table}_migrations`)} (version, applied_at) VALUES ($1, $2)`, [
        version,
        new Date().toISOString(),
      ]);
    }
    const mismatch = schemaMismatch(table, await this.#readSchema(client));
    if (mismatch) throw new StoreSetupError('TABLE_NAME', mismatch);
  }

  /** The columns of the service's tables, and the records table's primary key, as the catalog has them. */
  async #readSchema(client: Queryable): Promise<FoundSchema> {
    const table = this.#config.tableName;
    const { rows } = await client.query<{ table_name: string; column_name: string }>(
      `SELECT c.relname AS table_name, a.attname AS column_name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE a.attrelid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name) AND a.attnum > 0 AND NOT a.attisdropped`,
      [serviceTables(table).map(q)],
    );
    const columns = new Map<string, Set<string>>();
    for (const { table_name, column_name } of rows) columns.set(table_name, (columns.get(table_name) ?? new Set()).add(column_name));
    const { rows: key } = await client.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = to_regclass($1) AND i.indisprimary`,
      [q(table)],
    );
    return { columns, recordsPrimaryKey: key.map((row) => row.attname) };
  }

  /** Ends the pool; a run still holding a connection has it destroyed, which rolls back what it staged. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    for (const client of [...this.#runClients]) client.release(new Error('store closed'));
    await pool?.end();
  }

  async ping(): Promise<void> {
    await this.#query('ping', 'SELECT 1');
  }

  async listPosts(page: PostPage): Promise<Post[]> {
    const table = q(this.#config.tableName);
    return page.after === undefined
      ? this.#read<Post>('list posts', 'posts-by-offset', `SELECT ${POST_COLUMNS} FROM ${table} ORDER BY id LIMIT $1 OFFSET $2`, [page.limit, page.offset])
      : this.#read<Post>('list posts', 'posts-after', `SELECT ${POST_COLUMNS} FROM ${table} WHERE id > $1 ORDER BY id LIMIT $2`, [page.after, page.limit]);
  }

  /** Lookups that wait at the same time share one query (batched-lookups.ts). */
  getPost(id: number): Promise<Post | undefined> {
    return this.#lookUpPost(id);
  }

  async getStatus(): Promise<IngestionStatus> {
    const [row] = await this.#query<StatusRow>(
      'read status',
      `SELECT status, last_attempt, last_successful_run, records_ingested, records_rejected, last_error, last_duration_ms, last_run_replica
       FROM ${q(`${this.#config.tableName}_status`)} WHERE source = $1`,
      [this.#config.source],
    );
    if (!row) return NEVER_RUN;
    return { ...row, last_duration_ms: toNumberOrNull(row.last_duration_ms) };
  }

  async listRuns(limit: number): Promise<Run[]> {
    const rows = await this.#query<RunRow>(
      'list runs',
      `SELECT ${RUN_COLUMNS} FROM ${q(`${this.#config.tableName}_runs`)} WHERE source = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2`,
      [this.#config.source, limit],
    );
    return rows.map((row) => ({ ...row, duration_ms: toNumberOrNull(row.duration_ms) }));
  }

  async recoverInterruptedRuns(finishedAt: string): Promise<number> {
    const { tableName: table, source } = this.#config;
    const pool = this.#requirePool();
    return guard('recover runs', () =>
      withPooledTransaction(pool, async (client) => {
        const { rowCount } = await client.query(
          `UPDATE ${q(`${table}_runs`)} SET status = 'failed', finished_at = $1, error = $2, duration_ms = NULL, records_changed = 0
           WHERE source = $3 AND status = 'running'`,
          [finishedAt, RUN_END_UNRECORDED, source],
        );
        await client.query(`UPDATE ${q(`${table}_status`)} SET status = 'failed', last_error = $1, last_duration_ms = NULL WHERE source = $2 AND status = 'running'`, [
          RUN_END_UNRECORDED,
          source,
        ]);
        return rowCount ?? 0;
      }),
    );
  }

  async beginRun(run: RunStart): Promise<RunWriter> {
    const pool = this.#requirePool();
    const client = await guard('begin run', () => pool.connect());
    const runClient = new RunClient(client, (released) => this.#runClients.delete(released));
    this.#runClients.add(runClient);
    return PostgresRunWriter.begin(runClient, pool, this.#config, run);
  }

  async acquireLease(request: LeaseRequest): Promise<{ acquired: boolean; lease: LeaseState }> {
    const lease = q(`${this.#config.tableName}_lease`);
    // ON CONFLICT DO UPDATE locks the row and re-checks the WHERE, so of replicas asking together one wins.
    const taken = await this.#query<LeaseState>(
      'acquire lease',
      `INSERT INTO ${lease} AS lease (source, owner, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (source) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE (lease.owner IS NULL OR lease.owner = $2 OR lease.expires_at <= $4::text)
         AND ($5::text IS NULL OR lease.last_started_at IS NULL OR lease.last_started_at <= $5::text)
       RETURNING ${LEASE_COLUMNS}`,
      [this.#config.source, request.owner, request.expiresAt, request.now, request.dueIfStartedBy ?? null],
    );
    if (taken[0]) return { acquired: true, lease: taken[0] };
    const [held] = await this.#query<LeaseState>('read lease', `SELECT ${LEASE_COLUMNS} FROM ${lease} WHERE source = $1`, [this.#config.source]);
    return { acquired: false, lease: held ?? { owner: null, expiresAt: null, lastStartedAt: null } };
  }

  async renewLease(owner: string, expiresAt: string): Promise<boolean> {
    const renewed = await this.#query(
      'renew lease',
      `UPDATE ${q(`${this.#config.tableName}_lease`)} SET expires_at = $1 WHERE source = $2 AND owner = $3 RETURNING owner`,
      [expiresAt, this.#config.source, owner],
    );
    return renewed.length > 0;
  }

  async releaseLease(owner: string, lastStartedAt?: string): Promise<void> {
    await this.#query(
      'release lease',
      `UPDATE ${q(`${this.#config.tableName}_lease`)} SET owner = NULL, expires_at = NULL, last_started_at = COALESCE($1, last_started_at)
       WHERE source = $2 AND owner = $3`,
      [lastStartedAt ?? null, this.#config.source, owner],
    );
  }

  async #query<R extends pg.QueryResultRow>(operation: string, text: string, values?: unknown[]): Promise<R[]> {
    const pool = this.#requirePool();
    const result = await guard(operation, () => pool.query<R>(text, values));
    return result.rows;
  }

  /**
   * The API's reads, as named prepared statements: each pooled connection parses and plans them once, instead
   * of on every request. Names are per connection, and the connections of this pool serve one table only.
   */
  async #read<R extends pg.QueryResultRow>(operation: string, name: string, text: string, values: unknown[]): Promise<R[]> {
    const pool = this.#requirePool();
    const result = await guard(operation, () => pool.query<R>({ name, text, values }));
    return result.rows;
  }

  #requirePool(): pg.Pool {
    if (!this.#pool) throw new StoreUnavailableError('store not initialised');
    return this.#pool;
  }
}

/** pg returns bigint columns as strings (they may exceed 2^53); durations in ms never do. */
type StatusRow = Omit<IngestionStatus, 'last_duration_ms'> & { last_duration_ms: string | null };
type RunRow = Omit<Run, 'duration_ms'> & { duration_ms: string | null };

function toNumberOrNull(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}
