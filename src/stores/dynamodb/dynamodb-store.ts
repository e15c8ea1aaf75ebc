import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { OffsetTooDeepError, StoreUnavailableError } from '../../errors.js';
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
import { batchGet } from './dynamodb-batch.js';
import { callDynamoDb, describeStartFailure, isConditionFailed } from './dynamodb-call.js';
import { leaseKey, POST_PROJECTION, runKey, toLease, toPost, toRun, toStatus } from './dynamodb-items.js';
import { queryItems } from './dynamodb-query.js';
import { DynamoDbRunWriter } from './dynamodb-run-writer.js';
import { DYNAMODB_LIMITS, type DynamoDbStoreConfig } from './dynamodb-store-config.js';
import { dynamoDbTableNames, ensureTables, type DynamoDbTableNames } from './dynamodb-tables.js';

/**
 * The lease rule as conditions on the lease item (times are RFC 3339 text of one width, so text order is time
 * order): free when nobody holds it, the caller holds it (a restart), or it lapsed; due when no run ended yet
 * or the last one started at or before `:dueBy`. `owner` is a DynamoDB reserved word, hence `#owner`.
 */
const LEASE_FREE = '(attribute_not_exists(#owner) OR #owner = :owner OR expires_at <= :now)';
const LEASE_DUE = '(attribute_not_exists(last_started_at) OR last_started_at <= :dueBy)';

/**
 * DynamoDB through the AWS SDK v3 document client. Records are keyed by (source, id), so GET /posts is a
 * Query in id order and GET /posts/:id a key in a BatchGetItem: nothing ever scans. Runs are not atomic (no
 * transactions): see DynamoDbRunWriter and docs/dynamodb.md for what a reader can see while a run writes.
 */
export class DynamoDbStore implements Store {
  readonly name = 'dynamodb';
  readonly capabilities = { atomicRuns: false } as const;
  readonly #config: DynamoDbStoreConfig;
  readonly #names: DynamoDbTableNames;
  #client: DynamoDBClient | undefined;
  #doc: DynamoDBDocumentClient | undefined;
  readonly #lookUpPost = batchedLookups(async (ids) => {
    const keys = ids.map((id) => ({ source: this.#config.source, id }));
    return (await batchGet(this.#db(), this.#names.records, keys, POST_PROJECTION, this.#config.retry, 'get post')).map(toPost);
  });

  constructor(config: DynamoDbStoreConfig) {
    this.#config = config;
    this.#names = dynamoDbTableNames(config.tableName);
  }

  async init(): Promise<void> {
    const { region, endpoint, credentials, createTables, retry } = this.#config;
    await this.close();
    const client = new DynamoDBClient({
      region,
      ...(endpoint ? { endpoint } : {}),
      // A copy: the SDK tags the credentials object it is given, which fails on a frozen one.
      ...(credentials ? { credentials: typeof credentials === 'function' ? credentials : { ...credentials } } : {}),
      // Our retry layer (the shared policy, dynamodb-call.ts) is the only one: the SDK's would stack beneath it.
      maxAttempts: 1,
      requestHandler: { requestTimeout: DYNAMODB_LIMITS.requestTimeoutMs, connectionTimeout: DYNAMODB_LIMITS.connectionTimeoutMs },
    });
    this.#client = client;
    this.#doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    try {
      await ensureTables(client, this.#names, createTables, retry);
    } catch (error) {
      throw describeStartFailure(error, endpoint ? new URL(endpoint).host : `AWS ${region}`);
    }
  }

  async close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
    this.#doc = undefined;
  }

  /** A data-plane read (GetItem on the status table): cheap, and not subject to the control plane's rate limits. */
  async ping(): Promise<void> {
    await this.#readStatus('ping');
  }

  async listPosts(page: PostPage): Promise<Post[]> {
    if (page.after !== undefined) return this.#postsAfter(page.after, page.limit);
    const maxOffset = this.#config.maxOffset ?? DYNAMODB_LIMITS.maxOffset;
    if (page.offset > maxOffset) throw new OffsetTooDeepError(maxOffset);
    if (page.offset === 0) return this.#postsAfter(undefined, page.limit);
    // DynamoDB cannot seek to a position: read the skipped keys only (still billed per item read), then page
    // on by keyset after the last of them.
    const skipped = await queryItems(this.#db(), this.#recordsQuery(undefined, '#id'), page.offset, this.#config.retry, 'list posts');
    const last = skipped.at(-1);
    if (skipped.length < page.offset || last === undefined) return [];
    return this.#postsAfter(last.id as number, page.limit);
  }

  async #postsAfter(after: number | undefined, limit: number): Promise<Post[]> {
    const items = await queryItems(this.#db(), this.#recordsQuery(after), limit, this.#config.retry, 'list posts');
    return items.map(toPost);
  }

  #recordsQuery(after: number | undefined, projection?: string) {
    // DynamoDB refuses a request that names an attribute no expression uses.
    const usesId = after !== undefined || projection !== undefined;
    const names: Record<string, string> = { '#source': 'source', ...(usesId ? { '#id': 'id' } : {}) };
    return {
      TableName: this.#names.records,
      KeyConditionExpression: after === undefined ? '#source = :source' : '#source = :source AND #id > :after',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ':source': this.#config.source, ...(after === undefined ? {} : { ':after': after }) },
      ...(projection ? { ProjectionExpression: projection } : {}),
      ScanIndexForward: true,
      ConsistentRead: true,
    };
  }

  /** Lookups that wait at the same time share one BatchGetItem (batched-lookups.ts). */
  getPost(id: number): Promise<Post | undefined> {
    return this.#lookUpPost(id);
  }

  async getStatus(): Promise<IngestionStatus> {
    return toStatus(await this.#readStatus('read status'));
  }

  async #readStatus(operation: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await callDynamoDb(operation, this.#config.retry, () =>
      this.#db().send(new GetCommand({ TableName: this.#names.status, Key: { source: this.#config.source }, ConsistentRead: true })),
    );
    return Item;
  }

  async listRuns(limit: number): Promise<Run[]> {
    const items = await queryItems(this.#db(), this.#runsQuery(false), limit, this.#config.retry, 'list runs');
    return items.map(toRun);
  }

  #runsQuery(runningOnly: boolean) {
    return {
      TableName: this.#names.runs,
      KeyConditionExpression: '#source = :source',
      ...(runningOnly ? { FilterExpression: '#status = :running' } : {}),
      ExpressionAttributeNames: { '#source': 'source', ...(runningOnly ? { '#status': 'status' } : {}) },
      ExpressionAttributeValues: { ':source': this.#config.source, ...(runningOnly ? { ':running': 'running' } : {}) },
      ScanIndexForward: false,
      ConsistentRead: true,
    };
  }

  /**
   * Reads the run history (at most `runHistoryLimit` items) for runs still `running` and marks each failed,
   * each write conditional on it still running, so two replicas recovering together count each run once.
   */
  async recoverInterruptedRuns(finishedAt: string): Promise<number> {
    const { source, retry } = this.#config;
    const running = await queryItems(this.#db(), this.#runsQuery(true), Number.MAX_SAFE_INTEGER, retry, 'recover runs');
    let recovered = 0;
    for (const run of running) {
      const marked = await this.#conditionalUpdate('recover runs', {
        TableName: this.#names.runs,
        Key: { source, run_key: run.run_key },
        UpdateExpression: 'SET #status = :failed, finished_at = :finished, #error = :error REMOVE duration_ms',
        ConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':running': 'running',
          ':finished': finishedAt,
          ':error': RUN_END_UNRECORDED,
        },
      });
      if (marked) recovered += 1;
    }
    await this.#conditionalUpdate('recover runs', {
      TableName: this.#names.status,
      Key: { source },
      UpdateExpression: 'SET #status = :failed, last_error = :error REMOVE last_duration_ms',
      ConditionExpression: '#status = :running',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':failed': 'failed', ':running': 'running', ':error': RUN_END_UNRECORDED },
    });
    return recovered;
  }

  async beginRun(run: RunStart): Promise<RunWriter> {
    const { source, retry } = this.#config;
    const doc = this.#db();
    await callDynamoDb('begin run', retry, () =>
      doc.send(
        new PutCommand({
          TableName: this.#names.runs,
          // An absent replica leaves the attribute out (the client drops undefined values), which reads as null.
          Item: {
            source,
            run_key: runKey(run.startedAt, run.runId),
            run_id: run.runId,
            status: 'running',
            started_at: run.startedAt,
            records_ingested: 0,
            records_rejected: 0,
            replica: run.replica,
          },
        }),
      ),
    );
    // As in the SQLite store, the run that began last owns the state fields; commit and abort check it. The
    // replica describes this attempt too, so a run without one must not keep the previous run's.
    const { replica } = run;
    try {
      await callDynamoDb('begin run', retry, () =>
        doc.send(
          new UpdateCommand({
            TableName: this.#names.status,
            Key: { source },
            UpdateExpression: `SET #status = :running, current_run_id = :run, last_attempt = :started${replica === undefined ? ' REMOVE last_run_replica' : ', last_run_replica = :replica'}`,
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':running': 'running', ':run': run.runId, ':started': run.startedAt, ...(replica === undefined ? {} : { ':replica': replica }) },
          }),
        ),
      );
    } catch (error) {
      // The run did not begin, so its history item would show a run `running` that never ran (until a lease
      // holder marked it failed as interrupted): it is taken back, once, if the store still answers.
      await doc.send(new DeleteCommand({ TableName: this.#names.runs, Key: { source, run_key: runKey(run.startedAt, run.runId) } })).catch(() => undefined);
      throw error;
    }
    return new DynamoDbRunWriter(doc, this.#names, this.#config, run);
  }

  /**
   * One UpdateItem whose condition is the whole rule: DynamoDB checks it and writes under the item's lock, so of
   * replicas asking together exactly one gets the lease (the others get ConditionalCheckFailedException). The
   * state is then read back, strongly consistent, so a loser sees who won.
   */
  async acquireLease(request: LeaseRequest): Promise<{ acquired: boolean; lease: LeaseState }> {
    const dueBy = request.dueIfStartedBy;
    const acquired = await this.#conditionalUpdate('acquire lease', {
      TableName: this.#names.status,
      Key: leaseKey(this.#config.source),
      UpdateExpression: 'SET #owner = :owner, expires_at = :expires',
      ConditionExpression: dueBy === undefined ? LEASE_FREE : `${LEASE_FREE} AND ${LEASE_DUE}`,
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': request.owner, ':expires': request.expiresAt, ':now': request.now, ...(dueBy === undefined ? {} : { ':dueBy': dueBy }) },
    });
    const { Item } = await callDynamoDb('acquire lease', this.#config.retry, () =>
      this.#db().send(new GetCommand({ TableName: this.#names.status, Key: leaseKey(this.#config.source), ConsistentRead: true })),
    );
    return { acquired, lease: toLease(Item) };
  }

  async renewLease(owner: string, expiresAt: string): Promise<boolean> {
    return this.#conditionalUpdate('renew lease', {
      TableName: this.#names.status,
      Key: leaseKey(this.#config.source),
      UpdateExpression: 'SET expires_at = :expires',
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': owner, ':expires': expiresAt },
    });
  }

  /** Conditional on holding the lease: once it lapsed, another replica may hold it, and that one is not ours to free. */
  async releaseLease(owner: string, lastStartedAt?: string): Promise<void> {
    await this.#conditionalUpdate('release lease', {
      TableName: this.#names.status,
      Key: leaseKey(this.#config.source),
      UpdateExpression: lastStartedAt === undefined ? 'REMOVE #owner, expires_at' : 'SET last_started_at = :started REMOVE #owner, expires_at',
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': owner, ...(lastStartedAt === undefined ? {} : { ':started': lastStartedAt }) },
    });
  }

  /** Returns false when the condition did not hold (someone else got there first). */
  async #conditionalUpdate(operation: string, input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await callDynamoDb(operation, this.#config.retry, () => this.#db().send(new UpdateCommand(input)), isConditionFailed);
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  #db(): DynamoDBDocumentClient {
    if (!this.#doc) throw new StoreUnavailableError('store not initialised');
    return this.#doc;
  }
}
