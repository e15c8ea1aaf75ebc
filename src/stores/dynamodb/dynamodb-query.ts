import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { RetryPolicy } from '../../config.js';
import { callDynamoDb } from './dynamodb-call.js';
import type { Item } from './dynamodb-batch.js';

/**
 * Follows a Query through its pages (each at most 1 MB) until `maxItems` items came back or the key range
 * ends. `Limit` asks for no more than are still wanted, so a short page costs only what it returns.
 */
/** Items asked for per request: a page stops at 1 MB anyway, and a bounded Limit keeps each call's cost known. */
const PAGE_LIMIT = 1000;

export async function queryItems(
  doc: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>,
  maxItems: number,
  policy: RetryPolicy,
  operation: string,
): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Record<string, unknown> | undefined;
  while (items.length < maxItems) {
    const page = await callDynamoDb(operation, policy, () =>
      doc.send(new QueryCommand({ ...input, Limit: Math.min(PAGE_LIMIT, maxItems - items.length), ExclusiveStartKey: startKey })),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
    if (!startKey) break;
  }
  return items;
}
