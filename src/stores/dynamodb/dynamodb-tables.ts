import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import type { RetryPolicy } from '../../config.js';
import { StoreSetupError, StoreUnavailableError } from '../../errors.js';
import { callDynamoDb } from './dynamodb-call.js';
import { DYNAMODB_LIMITS } from './dynamodb-store-config.js';

export interface DynamoDbTableNames {
  /** Records: partition key `source` (S), sort key `id` (N), so a source's records come back in id order. */
  readonly records: string;
  /** Per source, partition key `source` (S): its status item, and its run lease under `<source>#lease`. */
  readonly status: string;
  /** Run history: partition key `source` (S), sort key `run_key` (S) = `<started_at>#<run_id>`, newest last. */
  readonly runs: string;
}

export function dynamoDbTableNames(tableName: string): DynamoDbTableNames {
  return { records: tableName, status: `${tableName}_status`, runs: `${tableName}_runs` };
}

type KeySpec = readonly [name: string, type: 'S' | 'N'];

function tableDefinition(name: string, hash: KeySpec, range?: KeySpec): CreateTableCommandInput {
  const keys = range ? [hash, range] : [hash];
  return {
    TableName: name,
    // On-demand: an ingestion run is a burst followed by minutes of idleness, the case provisioned capacity fits worst.
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: keys.map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: keys.map(([AttributeName], i) => ({ AttributeName, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
  };
}

export function tableDefinitions(names: DynamoDbTableNames): readonly CreateTableCommandInput[] {
  return [
    tableDefinition(names.records, ['source', 'S'], ['id', 'N']),
    tableDefinition(names.status, ['source', 'S']),
    tableDefinition(names.runs, ['source', 'S'], ['run_key', 'S']),
  ];
}

const isNamed = (name: string) => (error: unknown) => (error as { name?: string } | undefined)?.name === name;

/**
 * Makes sure every table exists with the expected keys and is ACTIVE. A missing table is created when
 * `createTables` is set; a replica racing us to create it (ResourceInUseException) is fine, we just wait.
 */
export async function ensureTables(client: DynamoDBClient, names: DynamoDbTableNames, createTables: boolean, policy: RetryPolicy): Promise<void> {
  await Promise.all(tableDefinitions(names).map((definition) => ensureTable(client, definition, createTables, policy)));
}

async function ensureTable(client: DynamoDBClient, definition: CreateTableCommandInput, createTables: boolean, policy: RetryPolicy): Promise<void> {
  const name = definition.TableName as string;
  let table = await describe(client, name, policy);
  if (!table) {
    if (!createTables) {
      // Asking again would not create it: a setup error says what to fix, not to try again shortly.
      throw new StoreSetupError('TABLE_NAME', `table "${name}" does not exist and DYNAMODB_CREATE_TABLES is false; create it as docs/dynamodb.md describes`);
    }
    await callDynamoDb(`create table "${name}"`, policy, () => client.send(new CreateTableCommand(definition)), isNamed('ResourceInUseException')).catch(
      (error: unknown) => {
        if (!isNamed('ResourceInUseException')(error)) throw error;
      },
    );
  }
  const deadline = Date.now() + DYNAMODB_LIMITS.tableActiveTimeoutMs;
  // UPDATING (a capacity or index change) still serves reads and writes; CREATING does not.
  for (let polls = 0; table?.TableStatus !== 'ACTIVE' && table?.TableStatus !== 'UPDATING'; polls++) {
    if (Date.now() > deadline) throw new StoreUnavailableError(`table "${name}" did not become ACTIVE`);
    if (polls > 0) await delay(DYNAMODB_LIMITS.tableActivePollMs);
    table = await describe(client, name, policy);
  }
  checkKeys(table, definition);
}

async function describe(client: DynamoDBClient, name: string, policy: RetryPolicy): Promise<TableDescription | undefined> {
  const notFound = isNamed('ResourceNotFoundException');
  try {
    const { Table } = await callDynamoDb(`describe table "${name}"`, policy, () => client.send(new DescribeTableCommand({ TableName: name })), notFound);
    return Table;
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

/** A table made by hand with other keys would fail every query later with a ValidationException: say so now. */
function checkKeys(table: TableDescription, definition: CreateTableCommandInput): void {
  const describeKeys = (keys: { AttributeName?: string | undefined; KeyType?: string | undefined }[] | undefined) =>
    (keys ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
  const types = (attrs: { AttributeName?: string | undefined; AttributeType?: string | undefined }[] | undefined) =>
    new Map((attrs ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  const found = types(table.AttributeDefinitions);
  const wanted = definition.AttributeDefinitions ?? [];
  const typesMatch = wanted.every((a) => found.get(a.AttributeName) === a.AttributeType);
  if (describeKeys(table.KeySchema) !== describeKeys(definition.KeySchema) || !typesMatch) {
    const expected = (definition.KeySchema ?? []).map((k) => `${k.AttributeName} (${k.KeyType})`).join(', ');
    throw new StoreSetupError('TABLE_NAME', `table "${definition.TableName}" exists with other keys; expected ${expected}`);
  }
}
