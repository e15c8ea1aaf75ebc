import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, waitUntilTableExists, waitUntilTableNotExists } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../../src/config.js';
import { OffsetTooDeepError, RunSupersededError, StoreSetupError, StoreUnavailableError } from '../../src/errors.js';
import { createStore } from '../../src/stores/create-store.js';
import { DynamoDbStore } from '../../src/stores/dynamodb/dynamodb-store.js';
import { DYNAMODB_LIMITS, type DynamoDbStoreConfig } from '../../src/stores/dynamodb/dynamodb-store-config.js';
import type { Post, Store } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName } from '../support/backends.js';
import { freePort } from '../support/free-port.js';
import { startDynalite, TEST_CREDENTIALS, TEST_REGION, testStoreConfig } from '../support/dynamodb-backend.js';
import { assertRecordBoundHolds, LONGEST_SOURCE, rejection } from '../support/store-fixtures.js';

const SOURCE = 'dynamodb-test';
const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
const post = (id: number, overrides: Partial<Post> = {}): Post => ({
  userId: 1 + (id % 5), id, title: `title ${id}`, body: `body ${id}`, ingested_at: at(1), source: SOURCE, ...overrides,
});

type Json = Record<string, any>;
/** Answers a call itself (status and JSON body), or returns undefined to pass it to dynalite unchanged. */
type Interceptor = (operation: string, request: Json, forward: (body: Json) => Promise<Json>) => Promise<{ status: number; body: Json } | undefined>;

/**
 * A thin HTTP proxy in front of dynalite that can answer some calls as a busy AWS would: part of a batch left
 * in UnprocessedItems, or a 400 ProvisionedThroughputExceededException with AWS's JSON error body.
 */
async function startProxy(target: string): Promise<{ endpoint: string; calls: Map<string, number>; intercept: (fn: Interceptor | undefined) => void; close: () => Promise<void> }> {
  let interceptor: Interceptor | undefined;
  const calls = new Map<string, number>();
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name)) headers[name] = value;
    }
    const send = async (body: string) => {
      const answer = await fetch(target, { method: 'POST', headers, body });
      return { status: answer.status, text: await answer.text() };
    };
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `proxy-${Date.now()}` });
      res.end(text);
    };
    try {
      const answer = interceptor && (await interceptor(operation, JSON.parse(raw) as Json, async (body) => JSON.parse((await send(JSON.stringify(body))).text) as Json));
      if (answer) return reply(answer.status, JSON.stringify(answer.body));
      const passed = await send(raw);
      reply(passed.status, passed.text);
    } catch (error) {
      reply(500, JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    intercept: (fn) => {
      interceptor = fn;
      calls.clear();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const THROTTLED = {
  status: 400,
  body: {
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message: 'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
  },
};

/** The records table of each store the tests made. */
const tableNames = new WeakMap<Store, string>();
function tableNameOf(store: Store): string {
  const name = tableNames.get(store);
  assert.ok(name, 'a store made by newStore');
  return name;
}

async function ingest(store: Store, runId: string, startedAt: string, posts: readonly Post[], batchSize = 100) {
  const writer = await store.beginRun({ runId, startedAt });
  for (let i = 0; i < posts.length; i += batchSize) await writer.write(posts.slice(i, i + batchSize).map((p) => ({ ...p, ingested_at: startedAt })));
  return writer.commit({ finishedAt: () => at(59), recordsIngested: posts.length, recordsRejected: 0 });
}

const excluded = !selectedBackends().some((backend) => backend.name === 'dynamodb');

describe('dynamodb store', { skip: excluded && 'TEST_STORES leaves dynamodb out' }, () => {
  let server: { endpoint: string; close: () => Promise<void> };
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let admin: DynamoDBClient;
  const open: Store[] = [];

  before(async () => {
    const given = process.env.TEST_DYNAMODB_ENDPOINT?.trim();
    server = given ? { endpoint: given, close: async () => {} } : await startDynalite();
    proxy = await startProxy(server.endpoint);
    admin = new DynamoDBClient({ region: TEST_REGION, endpoint: server.endpoint, credentials: { ...TEST_CREDENTIALS } });
  });
  after(async () => {
    await Promise.allSettled(open.map((s) => s.close()));
    admin?.destroy();
    await proxy?.close();
    await server?.close();
  });

  function newStore(overrides: Partial<DynamoDbStoreConfig> = {}, endpoint = proxy.endpoint, tableName = uniqueTableName('ddb')): DynamoDbStore {
    const store = new DynamoDbStore(testStoreConfig(endpoint, { tableName, source: SOURCE, batchSize: 100, runHistoryLimit: 100 }, overrides));
    tableNames.set(store, tableName);
    open.push(store);
    return store;
  }

  describe('writes under pressure', () => {
    it('when BatchWriteItem leaves half of each batch in UnprocessedItems, then they are resent and nothing is lost', async () => {
      const store = newStore();
      await store.init();
      let answered = 0;
      proxy.intercept(async (operation, request, forward) => {
        if (operation !== 'BatchWriteItem') return undefined;
        const [table, requests] = Object.entries(request.RequestItems as Record<string, Json[]>)[0] as [string, Json[]];
        if (requests.length < 2 || answered++ % 2 === 1) return undefined;
        const kept = requests.slice(0, Math.floor(requests.length / 2));
        const result = await forward({ ...request, RequestItems: { [table]: kept } });
        return { status: 200, body: { ...result, UnprocessedItems: { [table]: requests.slice(kept.length) } } };
      });
      const posts = Array.from({ length: 230 }, (_, i) => post(i + 1));
      const { recordsChanged } = await ingest(store, 'r1', at(1), posts);
      proxy.intercept(undefined);
      assert.ok(answered > 0);
      assert.equal(recordsChanged, 230);
      const stored = await store.listPosts({ limit: 1000, offset: 0 });
      assert.deepEqual(stored.map((p) => p.id), posts.map((p) => p.id));
    });

    it('when every BatchWriteItem takes a single item, then progress keeps the batch going past the retry budget', async () => {
      const store = newStore({ retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 } });
      await store.init();
      proxy.intercept(async (operation, request, forward) => {
        if (operation !== 'BatchWriteItem') return undefined;
        const [table, requests] = Object.entries(request.RequestItems as Record<string, Json[]>)[0] as [string, Json[]];
        const result = await forward({ ...request, RequestItems: { [table]: requests.slice(0, 1) } });
        return { status: 200, body: { ...result, UnprocessedItems: requests.length > 1 ? { [table]: requests.slice(1) } : {} } };
      });
      await ingest(store, 'r1', at(1), Array.from({ length: 30 }, (_, i) => post(i + 1)));
      const calls = proxy.calls.get('BatchWriteItem');
      proxy.intercept(undefined);
      assert.equal(calls, 30, 'one call per item taken');
      assert.equal((await store.listPosts({ limit: 100, offset: 0 })).length, 30);
    });

    it('when BatchWriteItem keeps leaving everything unprocessed, then the write fails with STORE_UNAVAILABLE after the retries', async () => {
      const store = newStore({ retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
      await store.init();
      const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      proxy.intercept(async (operation, request) => (operation === 'BatchWriteItem' ? { status: 200, body: { UnprocessedItems: request.RequestItems } } : undefined));
      const error = await writer.write([post(1), post(2)]).then(() => undefined, (e: unknown) => e);
      const calls = proxy.calls.get('BatchWriteItem');
      proxy.intercept(undefined);
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(calls, 3);
      assert.equal((error.cause as Error).name, 'UnprocessedBatchError');
    });

    it('when BatchWriteItem and BatchGetItem answer 400 ProvisionedThroughputExceededException now and then, then the run still stores everything', async () => {
      const store = newStore();
      await store.init();
      let throttled = 0;
      proxy.intercept(async (operation) => {
        if (operation !== 'BatchWriteItem' && operation !== 'BatchGetItem') return undefined;
        return (proxy.calls.get(operation) ?? 0) % 3 === 1 ? (throttled++, THROTTLED) : undefined;
      });
      const posts = Array.from({ length: 120 }, (_, i) => post(i + 1));
      await ingest(store, 'r1', at(1), posts, 60);
      proxy.intercept(undefined);
      assert.ok(throttled >= 2);
      assert.equal((await store.listPosts({ limit: 1000, offset: 0 })).length, 120);
      assert.equal((await store.getStatus()).status, 'success');
    });

    it('when BatchGetItem leaves every key in UnprocessedKeys once, then the keys are asked again and unchanged records stay unchanged', async () => {
      const store = newStore();
      await store.init();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      let deferred = false;
      proxy.intercept(async (operation, request) => {
        if (operation !== 'BatchGetItem' || deferred) return undefined;
        deferred = true;
        return { status: 200, body: { Responses: {}, UnprocessedKeys: request.RequestItems } };
      });
      const { recordsChanged } = await ingest(store, 'r2', at(2), [post(1), post(2, { title: 'changed' })]);
      proxy.intercept(undefined);
      assert.equal(deferred, true);
      assert.equal(recordsChanged, 1);
      assert.equal((await store.getPost(1))?.ingested_at, at(1));
      assert.equal((await store.getPost(2))?.ingested_at, at(2));
    });

    it('when throttling outlasts the retry policy, then the write fails with STORE_UNAVAILABLE and the AWS error only in cause', async () => {
      const store = newStore({ retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } });
      await store.init();
      const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      proxy.intercept(async (operation) => (operation === 'BatchWriteItem' ? THROTTLED : undefined));
      const error = await writer.write([post(1)]).then(() => undefined, (e: unknown) => e);
      const attempts = proxy.calls.get('BatchWriteItem');
      proxy.intercept(undefined);
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(attempts, 3, 'one attempt and two retries, no SDK retries stacked beneath');
      assert.match(error.message, /write posts/);
      assert.doesNotMatch(error.message, /throughput|Provisioned/i);
      assert.equal((error.cause as Error).name, 'ProvisionedThroughputExceededException');
    });

    it('when AWS refuses the request (AccessDeniedException), then it is not retried and fails with STORE_UNAVAILABLE', async () => {
      const store = newStore();
      await store.init();
      proxy.intercept(async (operation) =>
        operation === 'BatchGetItem'
          ? { status: 400, body: { __type: 'com.amazon.coral.service#AccessDeniedException', message: 'User: arn:aws:iam::123456789012:user/x is not authorized to perform: dynamodb:BatchGetItem' } }
          : undefined,
      );
      const error = await store.getPost(1).then(() => undefined, (e: unknown) => e);
      const attempts = proxy.calls.get('BatchGetItem');
      proxy.intercept(undefined);
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(attempts, 1);
      assert.doesNotMatch(error.message, /arn:|authorized/);
      assert.match(error.message, /^the store refused \(get post\): access denied; it will refuse again until an operator fixes that$/);
      assert.equal((error.cause as Error).name, 'AccessDeniedException');
    });

    it('when the status write of beginRun is refused after the history item was written, then the item is taken back and no run shows running', async () => {
      const store = newStore();
      await store.init();
      proxy.intercept(async (operation, request) =>
        operation === 'UpdateItem' && String(request.TableName).endsWith('_status') && JSON.stringify(request).includes('current_run_id')
          ? { status: 400, body: { __type: 'com.amazon.coral.service#AccessDeniedException', message: 'denied' } }
          : undefined,
      );
      const error = await rejection(store.beginRun({ runId: 'r1', startedAt: at(1) }));
      proxy.intercept(undefined);
      assert.ok(error instanceof StoreUnavailableError);
      assert.deepEqual(await store.listRuns(10), []);
      assert.equal((await store.getStatus()).status, 'never_run');
    });

    it('when a table is deleted under a running store, then reads fail saying it does not exist, not to try again shortly', async () => {
      const store = newStore();
      await store.init();
      await admin.send(new DeleteTableCommand({ TableName: tableNameOf(store) }));
      await waitUntilTableNotExists({ client: admin, maxWaitTime: 30 }, { TableName: tableNameOf(store) });
      const error = await rejection(store.listPosts({ limit: 1, offset: 0 }));
      assert.ok(error instanceof StoreUnavailableError);
      assert.match(error.message, /^the store refused \([a-z ]+\): a table of the service does not exist; it will refuse again until an operator fixes that$/);
    });
  });

  describe('item size', () => {
    it('when a record is as large as MAX_RECORD_BYTES allows here, with the longest source and ids, then it is stored; a little more is refused', async () => {
      const store = newStore({ source: LONGEST_SOURCE });
      await store.init();
      // dynalite holds items to DynamoDB's 400 KB, so the bound is what keeps the record in.
      await assertRecordBoundHolds(store, DYNAMODB_LIMITS.maxRecordBytes, StoreUnavailableError);
    });
  });

  describe('reading', () => {
    it('when the offset is deeper than the bound, then it throws OFFSET_TOO_DEEP; at the bound it still answers', async () => {
      const store = newStore();
      await store.init();
      await ingest(store, 'r1', at(1), [post(1)]);
      await assert.rejects(store.listPosts({ limit: 10, offset: 10_001 }), (e: unknown) => e instanceof OffsetTooDeepError && e.code === 'OFFSET_TOO_DEEP');
      assert.deepEqual(await store.listPosts({ limit: 10, offset: 10_000 }), []);
      const keyset = await store.listPosts({ limit: 10, offset: 50_000, after: 0 });
      assert.deepEqual(keyset.map((p) => p.id), [1], 'keyset paging is never bounded');
    });

    it('when the offset skips across several Query pages, then the page starts at the right id', async () => {
      const store = newStore();
      await store.init();
      await ingest(store, 'r1', at(1), Array.from({ length: 2300 }, (_, i) => post(i + 1)), 500);
      proxy.intercept(async () => undefined);
      const page = await store.listPosts({ limit: 5, offset: 2100 });
      const queries = proxy.calls.get('Query');
      proxy.intercept(undefined);
      assert.deepEqual(page.map((p) => p.id), [2101, 2102, 2103, 2104, 2105]);
      assert.equal(queries, 4, 'three key-only pages of at most 1,000 to skip, one page of posts');
    });

    it('when a record is stored, then the item keeps the run id and numbers as N, but readers get the seed shape', async () => {
      const store = newStore();
      await store.init();
      await ingest(store, 'r1', at(1), [post(7)]);
      const { Item } = await admin.send(new GetItemCommand({ TableName: tableNameOf(store), Key: { source: { S: SOURCE }, id: { N: '7' } } }));
      assert.equal(Item?.run_id?.S, 'r1');
      assert.equal(Item?.userId?.N, String(post(7).userId));
      const [listed] = await store.listPosts({ limit: 1, offset: 0 });
      assert.deepEqual(Object.keys(listed ?? {}).sort(), ['body', 'id', 'ingested_at', 'source', 'title', 'userId']);
    });
  });

  describe('run status', () => {
    it('when an older run commits after a newer run failed, then it is refused, and the newer state stays', async () => {
      const store = newStore();
      await store.init();
      await ingest(store, 'r0', at(0), [post(1)]);
      const older = await store.beginRun({ runId: 'older', startedAt: at(10) });
      const newer = await store.beginRun({ runId: 'newer', startedAt: at(20) });
      await newer.abort({ finishedAt: at(21), error: 'upstream answered HTTP 500', recordsRejected: 0 });
      assert.ok((await rejection(older.commit({ finishedAt: () => at(30), recordsIngested: 1, recordsRejected: 0 }))) instanceof RunSupersededError);
      const status = await store.getStatus();
      assert.equal(status.last_successful_run, at(0));
      assert.equal(status.last_attempt, at(20));
      assert.equal(status.status, 'failed');
      assert.equal(status.last_error, 'upstream answered HTTP 500');
    });
  });

  describe('replicas and the run lease', () => {
    it('when a run begins with a replica and the next without, then the run items keep theirs and the status forgets it', async () => {
      const store = newStore();
      await store.init();
      await (await store.beginRun({ runId: 'r1', startedAt: at(1), replica: 'pod-a' })).commit({ finishedAt: () => at(2), recordsIngested: 0, recordsRejected: 0 });
      assert.equal((await store.getStatus()).last_run_replica, 'pod-a');
      await store.beginRun({ runId: 'r2', startedAt: at(3) });
      const { Item } = await admin.send(new GetItemCommand({ TableName: `${tableNameOf(store)}_status`, Key: { source: { S: SOURCE } }, ConsistentRead: true }));
      assert.equal(Item?.last_run_replica, undefined, 'absent, not NULL');
      assert.deepEqual((await store.listRuns(10)).map((r) => [r.run_id, r.replica]), [['r2', null], ['r1', 'pod-a']]);
    });

    it('when a replica takes the lease, then it is one conditional UpdateItem and one consistent GetItem on the status table', async () => {
      const store = newStore();
      await store.init();
      const sent: Json[] = [];
      proxy.intercept(async (operation, request) => {
        sent.push({ operation, ...request });
        return undefined;
      });
      const answer = await store.acquireLease({ owner: 'pod-a', now: at(10), expiresAt: at(20), dueIfStartedBy: at(0) });
      proxy.intercept(undefined);
      assert.deepEqual(answer, { acquired: true, lease: { owner: 'pod-a', expiresAt: at(20), lastStartedAt: null } });
      const status = `${tableNameOf(store)}_status`;
      assert.deepEqual(sent.map((r) => [r.operation, r.TableName, r.Key?.source?.S]), [['UpdateItem', status, `${SOURCE}#lease`], ['GetItem', status, `${SOURCE}#lease`]]);
      assert.match(sent[0]?.ConditionExpression, /attribute_not_exists\(#owner\).*last_started_at <= :dueBy/);
      assert.equal(sent[1]?.ConsistentRead, true);
      assert.equal((await store.getStatus()).status, 'never_run', 'the lease item is not the status item');
    });

    it('when the lease is released, then the item keeps last_started_at and has no owner or expiry attributes', async () => {
      const store = newStore();
      await store.init();
      await store.acquireLease({ owner: 'pod-a', now: at(10), expiresAt: at(20) });
      await store.releaseLease('pod-a', at(10));
      const { Item } = await admin.send(new GetItemCommand({ TableName: `${tableNameOf(store)}_status`, Key: { source: { S: `${SOURCE}#lease` } }, ConsistentRead: true }));
      assert.deepEqual(Item, { source: { S: `${SOURCE}#lease` }, last_started_at: { S: at(10) } });
    });
  });

  describe('tables', () => {
    it('when the tables are missing, then init creates all three on demand and a second init leaves them be', async () => {
      const store = newStore();
      await store.init();
      const name = tableNameOf(store);
      for (const table of [name, `${name}_status`, `${name}_runs`]) {
        const { Table } = await admin.send(new DescribeTableCommand({ TableName: table }));
        assert.equal(Table?.TableStatus, 'ACTIVE');
        assert.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
      }
      const { Table } = await admin.send(new DescribeTableCommand({ TableName: name }));
      assert.deepEqual(Table?.KeySchema, [{ AttributeName: 'source', KeyType: 'HASH' }, { AttributeName: 'id', KeyType: 'RANGE' }]);
      await store.init();
    });

    it('when the tables are missing and DYNAMODB_CREATE_TABLES is false, then init fails naming the table and creates nothing', async () => {
      const store = newStore({ createTables: false });
      await assert.rejects(store.init(), (e: unknown) => e instanceof StoreSetupError && /^TABLE_NAME cannot be used: table "[^"]+" does not exist and DYNAMODB_CREATE_TABLES is false/.test(e.message));
      const { TableNames } = await admin.send(new ListTablesCommand({ Limit: 100 }));
      assert.equal(TableNames?.some((t) => t.startsWith(tableNameOf(store))), false);
    });

    it('when a table of that name exists with other keys, then init fails with a setup error naming TABLE_NAME and the keys it needs', async () => {
      const tableName = uniqueTableName('ddb');
      await admin.send(new CreateTableCommand({
        TableName: tableName,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }));
      await waitUntilTableExists({ client: admin, maxWaitTime: 30 }, { TableName: tableName });
      const store = newStore({}, proxy.endpoint, tableName);
      await assert.rejects(store.init(), (e: unknown) => e instanceof StoreSetupError && new RegExp(`^TABLE_NAME cannot be used: table "${tableName}" exists with other keys; expected source \\(HASH\\), id \\(RANGE\\)`).test(e.message));
    });

    it('when the tables exist and DYNAMODB_CREATE_TABLES is false, then init succeeds', async () => {
      const first = newStore();
      await first.init();
      const second = newStore({ createTables: false }, proxy.endpoint, tableNameOf(first));
      await second.init();
      assert.equal((await second.getStatus()).status, 'never_run');
    });
  });

  describe('availability', () => {
    it('when the endpoint is unreachable, then init fails with STORE_UNAVAILABLE naming the endpoint and why, and no AWS or socket text', async () => {
      const closed = await freePort();
      const store = newStore({ retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 } }, `http://127.0.0.1:${closed}`);
      const error = await store.init().then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.match(error.message, new RegExp(`DynamoDB at 127\\.0\\.0\\.1:${closed}: connection refused`));
      assert.doesNotMatch(error.message, /ECONNREFUSED/);
      assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
    });

    it('when the service starts without AWS credentials, then it stops with one line saying so and that it will be refused again', () => {
      // Nothing to find: no AWS_* variables, an empty home (no ~/.aws), no instance metadata to ask.
      const home = mkdtempSync(join(tmpdir(), 'no-aws-'));
      try {
        const env = { PATH: process.env.PATH ?? '', HOME: home, AWS_EC2_METADATA_DISABLED: 'true', STORAGE_TYPE: 'dynamodb', DYNAMODB_ENDPOINT: server.endpoint, RETRY_COUNT: '0', SERVER_PORT: '0' };
        const result = spawnSync(process.execPath, ['dist/main.js'], { env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(result.status, 1, result.stderr);
        const lines = result.stderr.trim().split('\n');
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0] ?? '', /^cannot start: the store refused \(DynamoDB at 127\.0\.0\.1:\d+\): no AWS credentials were found \(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, .*\); it will refuse again until an operator fixes that \(STORAGE_TYPE=dynamodb\)$/);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });

    it('when STORAGE_TYPE is dynamodb, then createStore builds a DynamoDB store from the configuration', async () => {
      const config = loadConfig({ STORAGE_TYPE: 'dynamodb', DYNAMODB_ENDPOINT: server.endpoint, TABLE_NAME: 'from_config' });
      const store = await createStore(config);
      assert.equal(store.name, 'dynamodb');
      assert.equal(store.capabilities.atomicRuns, false);
    });
  });
});


