import { setTimeout as delay } from 'node:timers/promises';
import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RetryPolicy } from '../../config.js';
import { backoffDelay } from '../../retry/backoff.js';
import { callDynamoDb, UnprocessedBatchError } from './dynamodb-call.js';
import { DYNAMODB_LIMITS } from './dynamodb-store-config.js';

type Item = Record<string, unknown>;
type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/**
 * Writes puts and deletes in BatchWriteItem calls of 25, a few in flight at once. What DynamoDB leaves in
 * UnprocessedItems (it does so under throttling or partition pressure, without an error) is resent by
 * resendUntilDone, in the same retry layer as throttling errors.
 */
export async function batchWrite(doc: DynamoDBDocumentClient, table: string, requests: readonly WriteRequest[], policy: RetryPolicy, operation: string): Promise<void> {
  await forEachLimit(chunk(requests, DYNAMODB_LIMITS.batchWriteItems), DYNAMODB_LIMITS.batchConcurrency, (group) =>
    resendUntilDone(group, policy, operation, async (pending) => {
      const { UnprocessedItems } = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending as WriteRequest[] } }));
      return (UnprocessedItems?.[table] ?? []) as WriteRequest[];
    }),
  );
}

/** Reads items by key in BatchGetItem calls of 100, resending UnprocessedKeys the same way. */
export async function batchGet(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: readonly Item[],
  projection: { expression: string; names: Record<string, string> },
  policy: RetryPolicy,
  operation: string,
): Promise<Item[]> {
  const found: Item[] = [];
  await forEachLimit(chunk(keys, DYNAMODB_LIMITS.batchGetKeys), DYNAMODB_LIMITS.batchConcurrency, (group) =>
    resendUntilDone(group, policy, operation, async (pending) => {
      const { Responses, UnprocessedKeys } = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: { Keys: pending as Item[], ConsistentRead: true, ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names },
          },
        }),
      );
      found.push(...(Responses?.[table] ?? []));
      return UnprocessedKeys?.[table]?.Keys ?? [];
    }),
  );
  return found;
}

/**
 * Sends a batch until DynamoDB has taken all of it. A call that takes nothing (every entry left unprocessed, or
 * a throttling error) spends the shared retry budget and backs off as any retry does; a call that takes part
 * of the batch resets the budget, since the table is making progress, but still waits the first backoff step
 * before resending, as AWS advises, so a hot partition gets a breather. Each step takes at least one entry,
 * so this ends; if the budget runs out, the batch fails as StoreUnavailableError and nothing is dropped.
 */
async function resendUntilDone<T>(batch: readonly T[], policy: RetryPolicy, operation: string, send: (pending: readonly T[]) => Promise<readonly T[]>): Promise<void> {
  let pending = batch;
  while (pending.length > 0) {
    const before = pending.length;
    pending = await callDynamoDb(operation, policy, async () => {
      const left = await send(pending);
      if (left.length >= pending.length) throw new UnprocessedBatchError(operation, left.length);
      return left;
    });
    if (pending.length > 0 && pending.length < before) await delay(backoffDelay(1, policy, Math.random));
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure rejects once the others settle. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

export type { Item, WriteRequest };
