import type pg from 'pg';
import { RunSupersededError } from '../../errors.js';
import { lastOccurrences } from '../last-occurrences.js';
import { NOTHING_STAGED, stagingPlan, type StoredContent } from '../post-changes.js';
import { durationMs, type Post, type RunCommitted, type RunFailure, type RunStart, type RunSuccess, type RunWriter, type StoreOptions } from '../store.js';
import { copyText } from './copy-text.js';
import { withPooledTransaction, withTransaction, type Queryable, type RunClient } from './postgres-client.js';
import { guard, isUniqueViolation } from './postgres-errors.js';
import { quoteIdentifier as q } from './postgres-schema.js';

// Session-private (pg_temp), so runs on other connections never see or block each other's staging.
const STAGE = 'pg_temp.ingestion_stage_posts';

/**
 * A batch's new and changed posts reach the stage through COPY, PostgreSQL's bulk path: no statement
 * parameters to parse and nothing planned per row. It staged a million posts in 7 s where an
 * `INSERT ... SELECT FROM unnest()` of the same batches took 12 s.
 */
const COPY_STAGE = `COPY ${STAGE} (id, user_id, title, body, ingested_at, source, is_new) FROM STDIN`;

/** COPY only adds rows: ids that may be staged leave first (see stagingPlan). */
const UNSTAGE_BATCH = `DELETE FROM ${STAGE} WHERE id = ANY($1::integer[])`;

/**
 * Stages a run's changed posts in a TEMP table of one dedicated pooled connection, holding no lock on the
 * shared tables, then merges them and records the status in one short transaction on commit. Readers see the
 * run's records only when that transaction commits, together with its status.
 *
 * Each batch first reads the stored copies of its ids and compares them in JavaScript (post-changes.ts), so a
 * re-run over unchanged data stages nothing. The comparison is exact because the run lease lets one run write
 * at a time; the merge compares again all the same.
 */
export class PostgresRunWriter implements RunWriter {
  /** A write reads the stored copies, then stages what changed: a second write meanwhile could stage out of order. */
  readonly writesInFlight = 1;
  readonly #client: RunClient;
  readonly #pool: pg.Pool;
  readonly #options: StoreOptions;
  readonly #run: RunStart;
  readonly #readStored: string;
  /** The highest id this attempt staged: no id above it can be in the stage. */
  #highestStaged = NOTHING_STAGED;

  private constructor(client: RunClient, pool: pg.Pool, options: StoreOptions, run: RunStart) {
    this.#client = client;
    this.#pool = pool;
    this.#options = options;
    this.#run = run;
    this.#readStored = `SELECT id, user_id, title, body, source FROM ${q(options.tableName)} WHERE id = ANY($1::integer[])`;
  }

  /** Creates the staging table and records the run as `running`, in one transaction on the run's client. */
  static async begin(client: RunClient, pool: pg.Pool, options: StoreOptions, run: RunStart): Promise<PostgresRunWriter> {
    const { tableName: table, source } = options;
    try {
      await guard('begin run', () =>
        withTransaction(client, async () => {
          // is_new: the table did not hold the id when the batch was compared (see #merge).
          await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (
            id integer PRIMARY KEY, user_id integer NOT NULL, title text NOT NULL, body text NOT NULL,
            ingested_at text NOT NULL, source text NOT NULL, is_new boolean NOT NULL)`);
          await client.query(`TRUNCATE ${STAGE}`);
          const replica = run.replica ?? null;
          await client.query(
            `INSERT INTO ${q(`${table}_runs`)} (run_id, source, status, started_at, replica) VALUES ($1, $2, 'running', $3, $4)`,
            [run.runId, source, run.startedAt, replica],
          );
          await client.query(
            `INSERT INTO ${q(`${table}_status`)} (source, status, current_run_id, last_attempt, last_run_replica) VALUES ($1, 'running', $2, $3, $4)
             ON CONFLICT (source) DO UPDATE SET status = 'running', current_run_id = excluded.current_run_id,
               last_attempt = excluded.last_attempt, last_run_replica = excluded.last_run_replica`,
            [source, run.runId, run.startedAt, replica],
          );
        }),
      );
    } catch (error) {
      client.release();
      throw error;
    }
    return new PostgresRunWriter(client, pool, options, run);
  }

  async write(posts: readonly Post[]): Promise<void> {
    if (posts.length === 0) return;
    const batch = lastOccurrences(posts);
    await guard('stage posts', async () => {
      const stored = await this.#client.queryRows<StoredContent>(this.#readStored, [batch.map((post) => post.id)]);
      const { added, changed, leaving, highestStaged } = stagingPlan(batch, stored, this.#highestStaged);
      if (leaving.length > 0) await this.#client.query(UNSTAGE_BATCH, [leaving]);
      if (added.length + changed.length === 0) return;
      let lines = '';
      for (const [posts, isNew] of [[added, 't'], [changed, 'f']] as const) {
        for (const post of posts) {
          lines += `${post.id}\t${post.userId}\t${copyText(post.title)}\t${copyText(post.body)}\t${copyText(post.ingested_at)}\t${copyText(post.source)}\t${isNew}\n`;
        }
      }
      await this.#client.copyFrom(COPY_STAGE, lines);
      this.#highestStaged = highestStaged;
    });
  }

  async discardAttempt(): Promise<void> {
    await guard('discard attempt', () => this.#client.query(`TRUNCATE ${STAGE}`));
    this.#highestStaged = NOTHING_STAGED;
  }

  async commit(result: RunSuccess): Promise<RunCommitted> {
    const client = this.#client;
    const table = this.#options.tableName;
    const { runId, startedAt } = this.#run;
    try {
      const committed = await guard('commit run', () =>
        withTransaction(client, async () => {
          const changes = await this.#merge();
          const finishedAt = result.finishedAt();
          const duration = durationMs(startedAt, finishedAt);
          await client.query(
            `UPDATE ${q(`${table}_runs`)} SET status = 'success', finished_at = $1, duration_ms = $2, records_ingested = $3,
               records_rejected = $4, records_changed = $5, error = NULL WHERE run_id = $6`,
            [finishedAt, duration, result.recordsIngested, result.recordsRejected, changes, runId],
          );
          await this.#recordSuccess(client, result, duration);
          await this.#pruneRuns(client);
          await client.query(`TRUNCATE ${STAGE}`);
          return { recordsChanged: changes, finishedAt };
        }),
      );
      client.release();
      return committed;
    } catch (error) {
      // The stage may still hold the whole run (a superseded run's, rolled back): its session goes, and the
      // TEMP table with it, rather than back to the pool.
      client.release(error instanceof Error ? error : undefined);
      throw error;
    }
  }

  /**
   * Moves the stage into the table, inside the commit's transaction, and returns how many rows it inserted or
   * updated. Posts the table did not hold when compared go in with a plain INSERT: `ON CONFLICT` made
   * PostgreSQL insert each row speculatively, and took two and a half times as long for a million new rows.
   * Should another replica have inserted one of those ids since (only when two runs overlap), the INSERT fails
   * on the key, and everything goes through the upsert instead; the run's connection is then closed after
   * the run rather than pooled again, as after any failed query.
   */
  async #merge(): Promise<number> {
    const client = this.#client;
    const table = q(this.#options.tableName);
    const columns = 'id, user_id, title, body, ingested_at, source';
    // An unchanged record is left alone, so it keeps the ingested_at of the run that last changed it; rowCount
    // then counts exactly the rows inserted or updated. ORDER BY id takes the row locks in one order, so two
    // replicas merging overlapping ids wait for each other instead of deadlocking.
    const upsert = (which: string) =>
      client.query(
        `INSERT INTO ${table} AS t (${columns}) SELECT ${columns} FROM ${STAGE} ${which} ORDER BY id
         ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, title = excluded.title, body = excluded.body,
           ingested_at = excluded.ingested_at, source = excluded.source
         WHERE (t.user_id, t.title, t.body, t.source) IS DISTINCT FROM (excluded.user_id, excluded.title, excluded.body, excluded.source)`,
      );
    await client.query('SAVEPOINT merge_new');
    try {
      const inserted = await client.query(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${STAGE} WHERE is_new ORDER BY id`);
      const updated = await upsert('WHERE NOT is_new');
      return (inserted.rowCount ?? 0) + (updated.rowCount ?? 0);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await client.query('ROLLBACK TO SAVEPOINT merge_new');
      return (await upsert('')).rowCount ?? 0;
    }
  }

  async abort(result: RunFailure): Promise<void> {
    const { tableName: table, source } = this.#options;
    const { runId, startedAt } = this.#run;
    const duration = durationMs(startedAt, result.finishedAt);
    // A run that committed stays a success (see RunWriter.abort): the updates below leave such rows alone.
    // Nothing staged was merged, so dropping the staged rows is all the undoing there is. If that fails the
    // client is destroyed, and its TEMP table goes with its session.
    if (this.#client.healthy) await this.#client.query(`TRUNCATE ${STAGE}`).catch(() => undefined);
    // Released before the failure is recorded, on a fresh pooled connection: the run's own connection may be
    // the one that broke, and with POSTGRES_POOL_SIZE=1 holding it would leave no connection to ask for.
    this.#client.release();
    await guard('abort run', () =>
      withPooledTransaction(this.#pool, async (client) => {
        await client.query(
          `UPDATE ${q(`${table}_runs`)} SET status = 'failed', finished_at = $1, duration_ms = $2, records_rejected = $3, records_changed = 0, error = $4
           WHERE run_id = $5 AND status <> 'success'`,
          [result.finishedAt, duration, result.recordsRejected, result.error, runId],
        );
        await client.query(
          `UPDATE ${q(`${table}_status`)} SET status = 'failed', last_error = $1, last_duration_ms = $2
           WHERE source = $3 AND current_run_id = $4 AND status <> 'success'`,
          [result.error, duration, source, runId],
        );
        await this.#pruneRuns(client);
      }),
    );
  }

  async #recordSuccess(client: Queryable, result: RunSuccess, duration: number): Promise<void> {
    const { tableName: table, source } = this.#options;
    const { runId, startedAt } = this.#run;
    // A slower, older run never replaces the success of a newer one...
    await client.query(
      `UPDATE ${q(`${table}_status`)} SET last_successful_run = $1, records_ingested = $2, records_rejected = $3
       WHERE source = $4 AND (last_successful_run IS NULL OR last_successful_run <= $1)`,
      [startedAt, result.recordsIngested, result.recordsRejected, source],
    );
    // ...nor the state of a run that began after it, and then its records, older than that run's, stay out: the
    // commit's transaction rolls back. The row lock this takes orders it against that run's beginRun.
    const current = await client.query(
      `UPDATE ${q(`${table}_status`)} SET status = 'success', last_error = NULL, last_duration_ms = $1
       WHERE source = $2 AND current_run_id = $3`,
      [duration, source, runId],
    );
    if (current.rowCount === 0) throw new RunSupersededError({ atomicRuns: true });
  }

  async #pruneRuns(client: Queryable): Promise<void> {
    const { tableName: table, source, runHistoryLimit } = this.#options;
    await client.query(
      `DELETE FROM ${q(`${table}_runs`)} WHERE source = $1 AND run_id NOT IN
         (SELECT run_id FROM ${q(`${table}_runs`)} WHERE source = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2)`,
      [source, runHistoryLimit],
    );
  }
}

