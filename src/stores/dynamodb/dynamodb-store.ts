import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { OffsetTooDeepError, StoreUnavailableError } from '../../errors.js';
import {
  INTERRUPTED_BY_CRASH,
  type IngestionStatus,
  type Post,
  type PostPage,
  type Run,
  type RunStart,
  type RunWriter,
  type Store,
} from '../store.js';
import { callDynamoDb, isConditionFailed } from './dynamodb-call.js';
import { durationMs, runKey, toPost, toRun, toStatus } from './dynamodb-items.js';
import { queryItems } from './dynamodb-query.js';
import { DynamoDbRunWriter } from './dynamodb-run-writer.js';
import { DYNAMODB_LIMITS, type DynamoDbStoreConfig } from './dynamodb-store-config.js';
import { dynamoDbTableNames, ensureTables, type DynamoDbTableNames } from './dynamodb-tables.js';

/**
 * DynamoDB through the AWS SDK v3 document client. Records are keyed by (source, id), so GET /posts is a
 * Query in id order and GET /posts/:id a GetItem: nothing ever scans. Runs are not atomic (no transactions):
 * see DynamoDbRunWriter and docs/dynamodb.md for what a reader can see while a run writes.
 */
export class DynamoDbStore implements Store {
  readonly name = 'dynamodb';
  readonly capabilities = { atomicRuns: false } as const;
  readonly #config: DynamoDbStoreConfig;
  readonly #names: DynamoDbTableNames;
  #client: DynamoDBClient | undefined;
  #doc: DynamoDBDocumentClient | undefined;

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
    await ensureTables(client, this.#names, createTables, retry);
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

  async getPost(id: number): Promise<Post | undefined> {
    const { Item } = await callDynamoDb('get post', this.#config.retry, () =>
      this.#db().send(new GetCommand({ TableName: this.#names.records, Key: { source: this.#config.source, id }, ConsistentRead: true })),
    );
    return Item ? toPost(Item) : undefined;
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
        UpdateExpression: 'SET #status = :failed, finished_at = :finished, duration_ms = :duration, #error = :error',
        ConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':running': 'running',
          ':finished': finishedAt,
          ':duration': durationMs(run.started_at as string, finishedAt),
          ':error': INTERRUPTED_BY_CRASH,
        },
      });
      if (marked) recovered += 1;
    }
    await this.#conditionalUpdate('recover runs', {
      TableName: this.#names.status,
      Key: { source },
      UpdateExpression: 'SET #status = :failed, last_error = :error',
      ConditionExpression: '#status = :running',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':failed': 'failed', ':running': 'running', ':error': INTERRUPTED_BY_CRASH },
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
          Item: { source, run_key: runKey(run.startedAt, run.runId), run_id: run.runId, status: 'running', started_at: run.startedAt, records_ingested: 0, records_rejected: 0 },
        }),
      ),
    );
    // As in the SQLite store, the run that began last owns the state fields; commit and abort check it.
    await callDynamoDb('begin run', retry, () =>
      doc.send(
        new UpdateCommand({
          TableName: this.#names.status,
          Key: { source },
          UpdateExpression: 'SET #status = :running, current_run_id = :run, last_attempt = :started',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':run': run.runId, ':started': run.startedAt },
        }),
      ),
    );
    return new DynamoDbRunWriter(doc, this.#names, this.#config, run);
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
