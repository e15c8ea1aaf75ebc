import { GetCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { RunSupersededError } from '../../errors.js';
import { durationMs, type Post, type RunCommitted, type RunFailure, type RunStart, type RunSuccess, type RunWriter } from '../store.js';
import { batchGet, batchWrite, type WriteRequest } from './dynamodb-batch.js';
import { callDynamoDb, isConditionFailed } from './dynamodb-call.js';
import { CONTENT_PROJECTION, postItem, runKey, sameContent } from './dynamodb-items.js';
import { queryItems } from './dynamodb-query.js';
import type { DynamoDbStoreConfig } from './dynamodb-store-config.js';
import type { DynamoDbTableNames } from './dynamodb-tables.js';

const recordKey = (source: string, id: number) => `${source}\u0000${id}`;

/**
 * Writes a run without transactions (dynalite has none, and AWS caps one at 100 items): records are written
 * idempotently as they come, then the run item, then the status item last, by conditional writes that act as
 * the commit marker. A reader may see records of a run in progress or of a failed run; the status only ever
 * moves forward.
 */
export class DynamoDbRunWriter implements RunWriter {
  /** A write reads the stored copies, then writes what changed: a second write meanwhile could land out of order. */
  readonly writesInFlight = 1;
  readonly #doc: DynamoDBDocumentClient;
  readonly #names: DynamoDbTableNames;
  readonly #config: DynamoDbStoreConfig;
  readonly #run: RunStart;
  /**
   * Records this run wrote, or found already written by it (an earlier attempt's batch that failed may have
   * written some of its items): their count is `recordsChanged`, of a failed run too, since what it wrote
   * stays. A key counts once its batch is written. Keys only, so memory stays small per record.
   */
  readonly #changed = new Set<string>();

  constructor(doc: DynamoDBDocumentClient, names: DynamoDbTableNames, config: DynamoDbStoreConfig, run: RunStart) {
    this.#doc = doc;
    this.#names = names;
    this.#config = config;
    this.#run = run;
  }

  async write(posts: readonly Post[]): Promise<void> {
    // Last occurrence wins; a batch request with a key twice would be refused by DynamoDB anyway.
    const latest = new Map<string, Post>();
    for (const post of posts) {
      const key = recordKey(post.source, post.id);
      latest.delete(key);
      latest.set(key, post);
    }
    if (latest.size === 0) return;
    const { runId } = this.#run;
    const policy = this.#config.retry;
    // Reading before writing keeps an unchanged record as it was, ingested_at included, and makes re-ingesting
    // unchanged data cost reads only (a read unit is a quarter of a write unit's price, per 4 KB against 1 KB).
    const keys = [...latest.values()].map((p) => ({ source: p.source, id: p.id }));
    const stored = await batchGet(this.#doc, this.#names.records, keys, CONTENT_PROJECTION, policy, 'read posts before writing');
    const storedByKey = new Map(stored.map((item) => [recordKey(item.source as string, item.id as number), item]));
    const puts: WriteRequest[] = [];
    const changed: string[] = [];
    for (const [key, post] of latest) {
      const current = storedByKey.get(key);
      if (!current || !sameContent(current, post)) {
        puts.push({ PutRequest: { Item: postItem(post, runId) } });
        changed.push(key);
      } else if (current.run_id === runId) {
        this.#changed.add(key);
      }
    }
    if (puts.length === 0) return;
    await this.#refuseIfSuperseded('write posts');
    await batchWrite(this.#doc, this.#names.records, puts, policy, 'write posts');
    for (const key of changed) this.#changed.add(key);
  }

  /**
   * Nothing to roll back on a store without atomic runs: the retry writes the same records again over what the
   * broken attempt left, and the records that attempt changed stay counted.
   */
  async discardAttempt(): Promise<void> {}

  async commit(result: RunSuccess): Promise<RunCommitted> {
    await this.#refuseIfSuperseded('commit run');
    const { runId, startedAt } = this.#run;
    const recordsChanged = this.#changed.size;
    // The records are written already: the run ends here.
    const finishedAt = result.finishedAt();
    const duration = durationMs(startedAt, finishedAt);
    // REMOVE #error: a lease holder may have marked this run failed meanwhile, taking it for dead; it was not.
    await this.#updateRun('commit run', 'SET #status = :status, finished_at = :finished, duration_ms = :duration, records_ingested = :ingested, records_rejected = :rejected, records_changed = :changed REMOVE #error', {
      ':status': 'success',
      ':finished': finishedAt,
      ':duration': duration,
      ':ingested': result.recordsIngested,
      ':rejected': result.recordsRejected,
      ':changed': recordsChanged,
    });
    // A slower, older run never replaces the success of a newer one...
    await this.#updateStatus('commit run', {
      UpdateExpression: 'SET last_successful_run = :started, records_ingested = :ingested, records_rejected = :rejected',
      ConditionExpression: 'attribute_not_exists(last_successful_run) OR last_successful_run <= :started',
      ExpressionAttributeValues: { ':started': startedAt, ':ingested': result.recordsIngested, ':rejected': result.recordsRejected },
    });
    // ...nor the state of a run that began after it. This write is the run's commit marker.
    await this.#updateStatus('commit run', {
      UpdateExpression: 'SET #status = :status, last_duration_ms = :duration REMOVE last_error',
      ConditionExpression: 'current_run_id = :run',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':status': 'success', ':duration': duration, ':run': runId },
    });
    this.#changed.clear();
    await this.#pruneRuns();
    return { recordsChanged, finishedAt };
  }

  async abort(result: RunFailure): Promise<void> {
    const { runId, startedAt } = this.#run;
    const duration = durationMs(startedAt, result.finishedAt);
    // A run that committed stays a success (see RunWriter.abort). What it wrote stays, and is counted.
    await this.#updateRun(
      'abort run',
      'SET #status = :status, finished_at = :finished, duration_ms = :duration, records_rejected = :rejected, records_changed = :changed, #error = :error',
      {
        ':status': 'failed',
        ':finished': result.finishedAt,
        ':duration': duration,
        ':rejected': result.recordsRejected,
        ':changed': this.#changed.size,
        ':error': result.error,
        ':success': 'success',
      },
      'attribute_exists(run_id) AND #status <> :success',
    );
    await this.#updateStatus('abort run', {
      UpdateExpression: 'SET #status = :status, last_error = :error, last_duration_ms = :duration',
      ConditionExpression: 'current_run_id = :run AND #status <> :success',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':status': 'failed', ':error': result.error, ':duration': duration, ':run': runId, ':success': 'success' },
    });
    await this.#pruneRuns();
  }

  /**
   * Fails the run once a later run has begun (this one's lease lapsed while it stalled, and another replica
   * took over): its records are older than that run's, and must not be written over them. Asked before each
   * write, a strongly consistent read of one item; a stall between this read and the write can still let one
   * batch through, which the next run puts right (docs/dynamodb.md).
   */
  async #refuseIfSuperseded(operation: string): Promise<void> {
    const { source, retry } = this.#config;
    const { Item: status } = await callDynamoDb(operation, retry, () =>
      this.#doc.send(new GetCommand({ TableName: this.#names.status, Key: { source }, ProjectionExpression: 'current_run_id', ConsistentRead: true })),
    );
    if (status !== undefined && status.current_run_id !== this.#run.runId) throw new RunSupersededError({ atomicRuns: false });
  }

  /** Updates this run's history item, unless it was already pruned (then there is nothing to describe). */
  async #updateRun(operation: string, update: string, values: Record<string, unknown>, condition = 'attribute_exists(run_id)'): Promise<void> {
    const { source } = this.#config;
    const { runId, startedAt } = this.#run;
    await this.#conditional(operation, {
      TableName: this.#names.runs,
      Key: { source, run_key: runKey(startedAt, runId) },
      UpdateExpression: update,
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#status': 'status', ...(update.includes('#error') ? { '#error': 'error' } : {}) },
      ExpressionAttributeValues: values,
    });
  }

  async #updateStatus(operation: string, input: Omit<UpdateCommandInput, 'TableName' | 'Key'>): Promise<void> {
    await this.#conditional(operation, { ...input, TableName: this.#names.status, Key: { source: this.#config.source } });
  }

  /** A failed condition means a newer run owns the item: not an error, the write is simply not ours to make. */
  async #conditional(operation: string, input: UpdateCommandInput): Promise<void> {
    try {
      await callDynamoDb(operation, this.#config.retry, () => this.#doc.send(new UpdateCommand(input)), isConditionFailed);
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  /** Keeps the newest `runHistoryLimit` runs: reads the keys newest first and deletes those past the limit. */
  async #pruneRuns(): Promise<void> {
    const { source, runHistoryLimit, retry } = this.#config;
    const keys = await queryItems(
      this.#doc,
      {
        TableName: this.#names.runs,
        KeyConditionExpression: '#source = :source',
        ProjectionExpression: '#source, run_key',
        ExpressionAttributeNames: { '#source': 'source' },
        ExpressionAttributeValues: { ':source': source },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
      Number.MAX_SAFE_INTEGER,
      retry,
      'prune runs',
    );
    const extra = keys.slice(runHistoryLimit).map((Key) => ({ DeleteRequest: { Key } }));
    await batchWrite(this.#doc, this.#names.runs, extra, retry, 'prune runs');
  }
}
