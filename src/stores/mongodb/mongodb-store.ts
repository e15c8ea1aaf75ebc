import { MongoClient, type Db, type Filter } from 'mongodb';
import { StoreUnavailableError } from '../../errors.js';
import {
  RUN_END_UNRECORDED,
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
import { callMongo, describeMongoConnectFailure, isDuplicateKey } from './mongodb-call.js';
import {
  ensureIndexes,
  mongoDbCollections,
  POST_PROJECTION,
  toLease,
  toPost,
  toRun,
  toStatus,
  type LeaseDocument,
  type MongoDbCollections,
  type RunDocument,
} from './mongodb-collections.js';
import { MongoDbRunWriter } from './mongodb-run-writer.js';
import { highestStoredId } from './mongodb-upserts.js';
import { MONGODB_DEFAULTS, type MongoDbStoreConfig } from './mongodb-store-config.js';
import { MongoDbTransactions, supportsTransactions } from './mongodb-transactions.js';

interface Connection {
  readonly client: MongoClient;
  readonly collections: MongoDbCollections;
  readonly transactions: MongoDbTransactions;
}

/**
 * MongoDB through the official driver: one MongoClient (its pool sized by the URI's `maxPoolSize`), records in
 * the TABLE_NAME collection with a unique index on `id`, status and run history beside it. Runs are not atomic:
 * a transaction around a whole run would outlive MongoDB's 60 s transaction limit on a slow upstream, so
 * records are upserted idempotently as they come and the status is the commit marker (MongoDbRunWriter).
 */
export class MongoDbStore implements Store {
  readonly name = 'mongodb';
  readonly capabilities = { atomicRuns: false } as const;
  readonly #config: MongoDbStoreConfig;
  #connection: Connection | undefined;
  readonly #lookUpPost = batchedLookups(async (ids) => {
    const { records } = this.#connected().collections;
    return (await callMongo('get post', () => records.find({ id: { $in: [...ids] } }, { projection: POST_PROJECTION }).toArray())).map(toPost);
  });

  constructor(config: MongoDbStoreConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const connection = this.#connection ?? (await this.#connect());
    await callMongo('create indexes', () => ensureIndexes(connection.collections));
  }

  async #connect(): Promise<Connection> {
    const client = new MongoClient(this.#config.uri, clientOptions(this.#config));
    try {
      await client.connect();
      const db: Db = client.db();
      const transactions = new MongoDbTransactions(client, await supportsTransactions(client, db));
      this.#connection = { client, collections: mongoDbCollections(db, this.#config.tableName), transactions };
      return this.#connection;
    } catch (error) {
      await client.close().catch(() => undefined);
      throw new StoreUnavailableError(`connect to ${describeMongoConnectFailure(this.#config.uri, error)}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.client.close();
  }

  async ping(): Promise<void> {
    const { client } = this.#connected();
    await callMongo('ping', () => client.db().command({ ping: 1 }));
  }

  async listPosts(page: PostPage): Promise<Post[]> {
    const { records } = this.#connected().collections;
    // A limit of 0 means "no limit" to MongoDB, but "nothing" to the contract.
    if (page.limit <= 0) return [];
    const docs = await callMongo('list posts', () => {
      const cursor = page.after === undefined
        ? records.find({}, { projection: POST_PROJECTION }).sort({ id: 1 }).skip(page.offset)
        : records.find({ id: { $gt: page.after } }, { projection: POST_PROJECTION }).sort({ id: 1 });
      return cursor.limit(page.limit).toArray();
    });
    return docs.map(toPost);
  }

  /** Lookups that wait at the same time share one find (batched-lookups.ts). */
  getPost(id: number): Promise<Post | undefined> {
    return this.#lookUpPost(id);
  }

  async getStatus(): Promise<IngestionStatus> {
    const { status } = this.#connected().collections;
    return toStatus(await callMongo('read status', () => status.findOne({ _id: this.#config.source })));
  }

  async listRuns(limit: number): Promise<Run[]> {
    const { runs } = this.#connected().collections;
    if (limit <= 0) return [];
    const docs = await callMongo('list runs', () => runs.find({ source: this.#config.source }).sort({ started_at: -1, _id: -1 }).limit(limit).toArray());
    return docs.map(toRun);
  }

  /**
   * Marks each run still `running` as failed. Each document's update is atomic and conditional on it still
   * running, so two replicas recovering together count each run once.
   */
  async recoverInterruptedRuns(finishedAt: string): Promise<number> {
    const { source } = this.#config;
    const { runs, status } = this.#connected().collections;
    const { modifiedCount } = await callMongo('recover runs', () =>
      runs.updateMany({ source, status: 'running' }, { $set: { status: 'failed', finished_at: finishedAt, duration_ms: null, error: RUN_END_UNRECORDED } }),
    );
    await callMongo('recover runs', () =>
      status.updateOne({ _id: source, status: 'running' }, { $set: { status: 'failed', last_error: RUN_END_UNRECORDED, last_duration_ms: null } }),
    );
    return modifiedCount;
  }

  async beginRun(run: RunStart): Promise<RunWriter> {
    const { source } = this.#config;
    const { collections, transactions } = this.#connected();
    const history: RunDocument = {
      _id: run.runId,
      source,
      status: 'running',
      started_at: run.startedAt,
      finished_at: null,
      duration_ms: null,
      records_ingested: 0,
      records_rejected: 0,
      records_changed: null,
      error: null,
      replica: run.replica ?? null,
    };
    // Read before the run is recorded, so that a failure here leaves no run `running`.
    const highestStored = await callMongo('begin run', () => highestStoredId(collections.records));
    await transactions.run('begin run', async (session) => {
      // replaceOne with upsert rather than insertOne, so running this again after a duplicate key is harmless.
      await collections.runs.replaceOne({ _id: run.runId }, history, { upsert: true, session });
      // As in the SQLite store, the run that began last owns the state fields; commit and abort check it.
      await collections.status.updateOne(
        { _id: source },
        {
          $set: { status: 'running', current_run_id: run.runId, last_attempt: run.startedAt, last_run_replica: run.replica ?? null },
          $setOnInsert: { last_successful_run: null, records_ingested: 0, records_rejected: 0, last_error: null, last_duration_ms: null },
        },
        { upsert: true, session },
      );
    });
    return new MongoDbRunWriter(collections, transactions, this.#config, run, highestStored);
  }

  /**
   * One upsert whose filter is the whole rule, then a read of the lease so a loser sees who won. When the
   * lease exists but is not free or not due, the filter matches nothing and the upsert tries to insert a
   * second document with the source's `_id`: the duplicate key (E11000) is the answer "not acquired". Two
   * replicas creating the first lease together meet the same way. MongoDB checks the filter and writes as one
   * step; FerretDB 1.24 does not, so there only the first creation is exclusive (docs/mongodb.md).
   */
  async acquireLease(request: LeaseRequest): Promise<{ acquired: boolean; lease: LeaseState }> {
    const { lease } = this.#connected().collections;
    const acquired = await callMongo('acquire lease', async () => {
      try {
        const { matchedCount, upsertedCount } = await lease.updateOne(
          acquirableLease(this.#config.source, request),
          { $set: { owner: request.owner, expires_at: request.expiresAt } },
          { upsert: true },
        );
        return matchedCount + upsertedCount > 0;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    });
    const current = await callMongo('acquire lease', () => lease.findOne({ _id: this.#config.source }));
    return { acquired, lease: toLease(current) };
  }

  async renewLease(owner: string, expiresAt: string): Promise<boolean> {
    const { lease } = this.#connected().collections;
    const { matchedCount } = await callMongo('renew lease', () => lease.updateOne({ _id: this.#config.source, owner }, { $set: { expires_at: expiresAt } }));
    return matchedCount > 0;
  }

  /** Conditional on holding the lease: once it lapsed, another replica may hold it, and that one is not ours to free. */
  async releaseLease(owner: string, lastStartedAt?: string): Promise<void> {
    const { lease } = this.#connected().collections;
    const started = lastStartedAt === undefined ? {} : { last_started_at: lastStartedAt };
    await callMongo('release lease', () => lease.updateOne({ _id: this.#config.source, owner }, { $set: { owner: null, expires_at: null, ...started } }));
  }

  #connected(): Connection {
    if (!this.#connection) throw new StoreUnavailableError('store not initialised');
    return this.#connection;
  }
}

/**
 * The source's lease, if it is free (nobody holds it, the caller does after a restart, or it lapsed) and, for a
 * scheduled run, due (no run ended yet, or the last one started at or before `dueIfStartedBy`). `null` also
 * matches a missing field. Times are RFC 3339 text of one width, so `$lte` on text is time order.
 */
function acquirableLease(source: string, request: LeaseRequest): Filter<LeaseDocument> {
  const free = { $or: [{ owner: null }, { owner: request.owner }, { expires_at: { $lte: request.now } }] };
  if (request.dueIfStartedBy === undefined) return { _id: source, ...free };
  const due = { $or: [{ last_started_at: null }, { last_started_at: { $lte: request.dueIfStartedBy } }] };
  return { _id: source, $and: [free, due] };
}

/**
 * Short timeouts unless the URI sets its own: the driver lets options given here override the URI's, so only
 * what the URI leaves out is filled in. Everything else (pool size, TLS, auth, write concern) is the URI's.
 */
function clientOptions(config: MongoDbStoreConfig): Record<string, number> {
  const given = uriOptionNames(config.uri);
  const options: Record<string, number> = {};
  if (!given.has('serverselectiontimeoutms')) {
    options.serverSelectionTimeoutMS = config.serverSelectionTimeoutMs ?? MONGODB_DEFAULTS.serverSelectionTimeoutMs;
  }
  if (!given.has('connecttimeoutms')) options.connectTimeoutMS = MONGODB_DEFAULTS.connectTimeoutMs;
  return options;
}

/** The option names in a connection string's query, lower-cased (MongoDB's option names are case-insensitive). */
function uriOptionNames(uri: string): Set<string> {
  const query = uri.split('?')[1] ?? '';
  return new Set(query.split('&').map((pair) => (pair.split('=')[0] ?? '').toLowerCase()).filter(Boolean));
}
