import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { StorageType } from '../src/config.js';
import { copyText } from '../src/stores/postgres/copy-text.js';
import { applyWriterPragmas } from '../src/stores/sqlite/sqlite-writer-pragmas.js';
import type { BackendHarness } from '../test/support/backends.js';
import { benchPosts, type BenchPost } from './posts.js';

/** What the service stamps on every record; the raw writers store the same six fields. */
const SOURCE = 'placeholder_api';
const INGESTED_AT = '2026-01-01T00:00:00.000Z';

/**
 * The store's own fastest bulk path with no service around it: the baseline the service's ingestion rate is
 * compared with. Each call writes the benchmark's records into a new, empty table shaped like the service's
 * (same columns and key), timing only the writing (records are made from their id as they are written, as the
 * service's come off the parser), then drops the table.
 */
export interface RawWriter {
  /** The path, as the table names it. */
  readonly path: string;
  /** Writes posts 1..count into a fresh table and returns the milliseconds the writing took. */
  write(table: string, count: number): Promise<number>;
}

export function rawWriter(store: StorageType, harness: BackendHarness): RawWriter {
  switch (store) {
    case 'sqlite':
      return sqliteWriter(harness);
    case 'postgresql':
      return postgresWriter(harness);
    case 'dynamodb':
      return dynamodbWriter(harness);
    case 'mongodb':
      return mongodbWriter(harness);
  }
}

/** With the store's own writer pragmas (src/stores/sqlite/sqlite-writer-pragmas.ts): the file does the same work per commit. */
function sqliteWriter(harness: BackendHarness): RawWriter {
  return {
    path: 'prepared INSERT, one transaction',
    async write(table, count) {
      const db = new Database(harness.serviceEnv(table).SQLITE_PATH as string);
      try {
        applyWriterPragmas(db);
        db.exec(`CREATE TABLE "${table}" (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL,
          body TEXT NOT NULL, ingested_at TEXT NOT NULL, source TEXT NOT NULL)`);
        const insert = db.prepare(`INSERT INTO "${table}" (id, user_id, title, body, ingested_at, source) VALUES (?, ?, ?, ?, ?, ?)`);
        const start = performance.now();
        db.transaction(() => {
          for (const p of benchPosts(count)) insert.run(p.id, p.userId, p.title, p.body, INGESTED_AT, SOURCE);
        })();
        const elapsed = performance.now() - start;
        db.exec(`DROP TABLE "${table}"`);
        return elapsed;
      } finally {
        db.close();
      }
    },
  };
}

const COPY_LINES_PER_CHUNK = 1000;

function* copyChunks(count: number): Generator<string> {
  let lines: string[] = [];
  for (const p of benchPosts(count)) {
    lines.push(`${p.id}\t${p.userId}\t${copyText(p.title)}\t${copyText(p.body)}\t${INGESTED_AT}\t${SOURCE}\n`);
    if (lines.length === COPY_LINES_PER_CHUNK) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join('');
}

function postgresWriter(harness: BackendHarness): RawWriter {
  return {
    path: 'COPY FROM STDIN',
    async write(table, count) {
      const client = new pg.Client({ connectionString: harness.serviceEnv(table).POSTGRES_URI });
      await client.connect();
      try {
        const name = client.escapeIdentifier(table);
        await client.query(`CREATE TABLE ${name} (id integer PRIMARY KEY, user_id integer NOT NULL, title text NOT NULL,
          body text NOT NULL, ingested_at text COLLATE "C" NOT NULL, source text NOT NULL)`);
        const start = performance.now();
        // One COPY streams every record; pipeline() waits for the socket to drain, so memory stays flat.
        await pipeline(Readable.from(copyChunks(count)), client.query(copyFromStdin(`COPY ${name} (id, user_id, title, body, ingested_at, source) FROM STDIN`)));
        const elapsed = performance.now() - start;
        await client.query(`DROP TABLE ${name}`);
        return elapsed;
      } finally {
        await client.end();
      }
    },
  };
}

const DYNAMODB_BATCH = 25;
/** BatchWriteItem calls in flight: 8 was as fast as 4 and faster than 16 against dynalite on 2 cores. */
const DYNAMODB_IN_FLIGHT = 8;

function dynamodbWriter(harness: BackendHarness): RawWriter {
  return {
    path: `BatchWriteItem of ${DYNAMODB_BATCH}, ${DYNAMODB_IN_FLIGHT} in flight`,
    async write(table, count) {
      const env = harness.serviceEnv(table);
      const client = new DynamoDBClient({
        region: env.AWS_REGION as string,
        endpoint: env.DYNAMODB_ENDPOINT as string,
        credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
      });
      // The document client only marshalls: each send is one BatchWriteItem, as the service sends them.
      const doc = DynamoDBDocumentClient.from(client);
      try {
        // The service's record table: partition key source, sort key id, on demand.
        await client.send(
          new CreateTableCommand({
            TableName: table,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [{ AttributeName: 'source', AttributeType: 'S' }, { AttributeName: 'id', AttributeType: 'N' }],
            KeySchema: [{ AttributeName: 'source', KeyType: 'HASH' }, { AttributeName: 'id', KeyType: 'RANGE' }],
          }),
        );
        // A table is CREATING until the server says otherwise, and writes to it fail as not found: dynalite marks
        // it ACTIVE on a timer, which a busy machine delays (one run of 2026-12-07 failed so).
        await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TableName: table });
        const batches = batchesOf(benchPosts(count), DYNAMODB_BATCH);
        const start = performance.now();
        // Workers pull from one generator, so at most DYNAMODB_IN_FLIGHT requests are out at any time.
        const worker = async () => {
          for (const batch of batches) {
            let pending = batch.map((p) => ({ PutRequest: { Item: dynamodbItem(p) } }));
            while (pending.length > 0) {
              const { UnprocessedItems } = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
              pending = (UnprocessedItems?.[table] ?? []) as typeof pending;
            }
          }
        };
        await Promise.all(Array.from({ length: DYNAMODB_IN_FLIGHT }, worker));
        const elapsed = performance.now() - start;
        await client.send(new DeleteTableCommand({ TableName: table }));
        return elapsed;
      } finally {
        doc.destroy();
      }
    },
  };
}

/** The item the service writes (DynamoDbRunWriter's postItem), run_id included, so items are the same size. */
function dynamodbItem(p: BenchPost): Record<string, unknown> {
  return { source: SOURCE, id: p.id, userId: p.userId, title: p.title, body: p.body, ingested_at: INGESTED_AT, run_id: '00000000-0000-4000-8000-000000000000' };
}

const MONGODB_BATCH = 1000;

/** insertMany into a collection with the service's unique index on id, so every insert maintains it too. */
function mongodbWriter(harness: BackendHarness): RawWriter {
  return {
    path: `insertMany of ${MONGODB_BATCH}, unordered`,
    async write(table, count) {
      const client = new MongoClient(harness.serviceEnv(table).MONGODB_URI as string);
      try {
        const collection = client.db().collection(table);
        await collection.createIndex({ id: 1 }, { unique: true, name: 'id_unique' });
        const start = performance.now();
        for (const batch of batchesOf(benchPosts(count), MONGODB_BATCH)) {
          await collection.insertMany(
            batch.map((p) => ({ ...p, ingested_at: INGESTED_AT, source: SOURCE })),
            { ordered: false },
          );
        }
        const elapsed = performance.now() - start;
        await collection.drop();
        return elapsed;
      } finally {
        await client.close();
      }
    },
  };
}

function* batchesOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
