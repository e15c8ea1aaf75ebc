import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { StoreUnavailableError } from '../../errors.js';

/** The one method the helpers below need, so a pooled client and a RunClient both qualify. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Runs `fn` between BEGIN and COMMIT, each sent as its own statement: if the connection drops before COMMIT
 * reaches the server, the server rolls the transaction back when the session ends, so nothing half-done is
 * ever committed. (A single multi-statement string would let the server commit after the client is gone.)
 */
export async function withTransaction<T>(client: Queryable, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // On a broken connection ROLLBACK fails as well; the server has then rolled back on its own.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Takes a client from the pool for one transaction, and destroys it instead of reusing it if anything failed. */
export async function withPooledTransaction<T>(pool: pg.Pool, fn: (client: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    const result = await withTransaction(client, () => fn(client));
    client.release();
    return result;
  } catch (error) {
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

/**
 * A pooled client held by one run from `beginRun` to `commit` or `abort`: its session owns the run's TEMP
 * staging table. It is released exactly once, and destroyed rather than reused if any query on it failed or
 * its connection died while idle (a checked-out client has no pool listener, so without ours an 'error' event
 * would crash the process).
 */
export class RunClient implements Queryable {
  readonly #client: pg.PoolClient;
  readonly #onRelease: (runClient: RunClient) => void;
  #failure: Error | undefined;
  #released = false;

  constructor(client: pg.PoolClient, onRelease: (runClient: RunClient) => void) {
    this.#client = client;
    this.#onRelease = onRelease;
    client.on('error', this.#recordFailure);
  }

  /** False once a query failed or the connection died: the session, and its staging table, may be gone. */
  get healthy(): boolean {
    return !this.#released && this.#failure === undefined;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#watched(() => this.#client.query<R>(text, values));
  }

  /** A query whose rows come as arrays of values (pg's `rowMode: 'array'`): no object is built per row. */
  async queryRows<R extends readonly unknown[]>(text: string, values?: unknown[]): Promise<R[]> {
    const result = await this.#watched(() => this.#client.query<unknown[]>({ text, values, rowMode: 'array' }));
    return result.rows as unknown as R[];
  }

  /**
   * Runs one `COPY ... FROM STDIN` that reads `data` (COPY text format, whole lines), through pg-copy-streams:
   * PostgreSQL's bulk path, which parses no statement parameters and plans nothing per row.
   */
  async copyFrom(text: string, data: string): Promise<void> {
    await this.#watched(() => pipeline(Readable.from([data]), this.#client.query(copyFromStdin(text))));
  }

  /** Runs a query on the held client, remembering a failure so the client is destroyed, not reused. */
  async #watched<T>(run: () => Promise<T>): Promise<T> {
    if (this.#released) throw new StoreUnavailableError('the run connection was released');
    try {
      return await run();
    } catch (error) {
      this.#recordFailure(error);
      throw error;
    }
  }

  /** Gives the client back to the pool, or destroys it after a failure (or when `failure` is given). */
  release(failure?: Error): void {
    if (this.#released) return;
    this.#released = true;
    if (failure) this.#failure ??= failure;
    this.#client.off('error', this.#recordFailure);
    this.#client.release(this.#failure ?? false);
    this.#onRelease(this);
  }

  readonly #recordFailure = (error: unknown): void => {
    this.#failure ??= error instanceof Error ? error : new Error('query failed');
  };
}
