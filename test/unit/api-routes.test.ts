import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api/app.js';
import { sendRawRequest } from '../support/raw-http.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { NEVER_RUN, RUN_HISTORY_LIMIT, type Post, type Store } from '../../src/stores/store.js';

const logger = pino({ level: 'silent' });
const SOURCE = 'placeholder_api';
const STARTED_AT = '2024-05-01T12:00:00.000Z';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let tempDir: string;

function sqliteStore(name: string): SqliteStore {
  return new SqliteStore({ path: join(tempDir, `${name}.db`), tableName: 'ingested_data', source: SOURCE, batchSize: 1000, runHistoryLimit: RUN_HISTORY_LIMIT });
}

/** Asserts the error body shape every failure answers with, and returns it. */
function assertErrorBody(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, statusCode: number, code: string): { message: string } {
  assert.match(String(response.headers['content-type']), /^application\/json/);
  const body = response.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.equal(response.statusCode, statusCode);
  assert.equal(body.statusCode, statusCode);
  assert.equal(body.code, code);
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof body.message, 'string');
  return body as { message: string };
}

/** A store whose every operation rejects with what `fail` returns: a test double for an unreachable database. */
function failingStore(fail: (operation: string) => Error): Store {
  const reject = (operation: string) => async (): Promise<never> => {
    throw fail(operation);
  };
  return {
    name: 'failing',
    capabilities: { atomicRuns: true },
    init: async () => {},
    close: async () => {},
    ping: reject('ping'),
    listPosts: reject('list posts'),
    getPost: reject('get post'),
    getStatus: reject('read status'),
    listRuns: reject('list runs'),
    recoverInterruptedRuns: reject('recover runs'),
    beginRun: reject('begin run'),
    acquireLease: reject('acquire lease'),
    renewLease: reject('renew lease'),
    releaseLease: reject('release lease'),
  };
}

before(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'api-routes-test-'));
});

after(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

describe('API on an empty SQLite store', () => {
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    store = sqliteStore('empty');
    await store.init();
    app = await buildApp({ store, logger, version: '9.9.9-test' });
  });

  after(async () => {
    await app.close();
    await store.close();
  });

  it('when GET /health, then it answers 200 with status healthy and an RFC 3339 time', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(response.statusCode, 200);
    const body = response.json() as { status: string; time: string };
    assert.deepEqual(Object.keys(body).sort(), ['status', 'time']);
    assert.equal(body.status, 'healthy');
    assert.equal(new Date(body.time).toISOString(), body.time);
  });

  it('when GET /posts without parameters, then it answers an empty page with limit 10 and offset 0', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { posts: [], count: 0, limit: 10, offset: 0, next_after: null });
  });

  const badQueries: ReadonlyArray<readonly [string, string, RegExp]> = [
    ['limit=0', 'limit', /an integer from 1 to 1000/],
    ['limit=1001', 'limit', /an integer from 1 to 1000/],
    ['limit=abc', 'limit', /an integer from 1 to 1000/],
    ['limit=', 'limit', /an integer from 1 to 1000/],
    ['offset=-1', 'offset', /an integer from 0 to 2147483647/],
    ['offset=1.5', 'offset', /an integer from 0 to 2147483647/],
    ['after=-1', 'after', /an integer from 0 to 2147483647/],
    ['after=2147483648', 'after', /an integer from 0 to 2147483647/],
    ['limit=0x10', 'limit', /an integer from 1 to 1000 \(got "0x10"\)/],
    ['limit=1e2', 'limit', /an integer from 1 to 1000 \(got "1e2"\)/],
    ['limit=%2B5', 'limit', /an integer from 1 to 1000 \(got "\+5"\)/],
    ['limit=%205', 'limit', /an integer from 1 to 1000 \(got " 5"\)/],
    ['offset=0b11', 'offset', /an integer from 0 to 2147483647 \(got "0b11"\)/],
    ['after=99999999999999999999', 'after', /an integer from 0 to 2147483647 \(got "99999999999999999999"\)/],
  ];
  for (const [query, parameter, range] of badQueries) {
    it(`when GET /posts?${query}, then it answers 400 INVALID_REQUEST naming ${parameter} and its range`, async () => {
      const response = await app.inject({ method: 'GET', url: `/posts?${query}` });
      const { message } = assertErrorBody(response, 400, 'INVALID_REQUEST');
      assert.equal((response.json() as { error: string }).error, 'Bad Request');
      assert.ok(message.includes(`query parameter '${parameter}'`), message);
      assert.match(message, range);
    });
  }

  it('when GET /posts?limit=abc, then the message quotes what was sent', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?limit=abc' });
    assert.match(assertErrorBody(response, 400, 'INVALID_REQUEST').message, /\(got "abc"\)/);
  });

  it('when GET /posts with an unknown parameter limt, then it answers 400 naming it', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?limt=5' });
    const { message } = assertErrorBody(response, 400, 'INVALID_REQUEST');
    assert.match(message, /unknown query parameter 'limt'/);
  });

  it('when GET /posts with both after and offset, then it answers 400 saying to use one', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?after=5&offset=3' });
    const { message } = assertErrorBody(response, 400, 'INVALID_REQUEST');
    assert.match(message, /offset/);
    assert.match(message, /after/);
  });

  it('when GET /posts?limit=1000, then the largest page is accepted', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?limit=1000&offset=0' });
    assert.equal(response.statusCode, 200);
    assert.equal((response.json() as { limit: number }).limit, 1000);
  });

  for (const id of ['abc', '0', '-3', '1.5', '2147483648']) {
    it(`when GET /posts/${id}, then it answers 400 INVALID_REQUEST naming the path parameter id`, async () => {
      const response = await app.inject({ method: 'GET', url: `/posts/${id}` });
      const { message } = assertErrorBody(response, 400, 'INVALID_REQUEST');
      assert.match(message, /path parameter 'id'/);
      assert.match(message, /an integer from 1 to 2147483647/);
    });
  }

  for (const [id, sent] of [['1e1', '1e1'], ['%201', ' 1'], ['0x1', '0x1'], ['99999999999999999999', '99999999999999999999']] as const) {
    it(`when GET /posts/${id}, then it answers 400 INVALID_REQUEST quoting what was sent`, async () => {
      const response = await app.inject({ method: 'GET', url: `/posts/${id}` });
      const { message } = assertErrorBody(response, 400, 'INVALID_REQUEST');
      assert.equal(message, `path parameter 'id' must be an integer from 1 to 2147483647 (got ${JSON.stringify(sent)})`);
    });
  }

  it('when GET /runs?limit=1e1, then it answers 400 naming limit', async () => {
    const response = await app.inject({ method: 'GET', url: '/runs?limit=1e1' });
    assert.match(assertErrorBody(response, 400, 'INVALID_REQUEST').message, /query parameter 'limit' must be an integer from 1 to 1000 \(got "1e1"\)/);
  });

  it('when GET /posts/5 on an empty store, then it answers 404 POST_NOT_FOUND', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts/5' });
    const { message } = assertErrorBody(response, 404, 'POST_NOT_FOUND');
    assert.match(message, /no post with id 5/);
  });

  it('when GET an unknown route, then it answers 404 ROUTE_NOT_FOUND as JSON', async () => {
    const response = await app.inject({ method: 'GET', url: '/nope?x=1' });
    const { message } = assertErrorBody(response, 404, 'ROUTE_NOT_FOUND');
    assert.match(message, /GET \/nope;/);
    assert.ok(!message.includes('x=1'));
  });

  it('when a path that exists is asked with a method it does not take, then it answers 405 METHOD_NOT_ALLOWED with Allow', async () => {
    for (const [method, url, allow] of [
      ['POST', '/posts', 'GET, HEAD'],
      ['DELETE', '/posts/5', 'GET, HEAD'],
      ['PUT', '/status', 'GET, HEAD'],
    ] as const) {
      const response = await app.inject({ method, url, payload: {} });
      assert.equal(response.headers.allow, allow, `${method} ${url}`);
      assert.match(assertErrorBody(response, 405, 'METHOD_NOT_ALLOWED').message, new RegExp(`^${url} takes ${allow}, not ${method}$`));
    }
  });

  it('when no route has the path, whatever the method, then it answers 404 ROUTE_NOT_FOUND naming the method', async () => {
    for (const url of ['/post', '/posts/5/extra', '/nope']) {
      const response = await app.inject({ method: 'POST', url, payload: {} });
      assert.equal(response.headers.allow, undefined);
      assert.match(assertErrorBody(response, 404, 'ROUTE_NOT_FOUND').message, new RegExp(`POST ${url}`));
    }
  });

  it('when HEAD asks a path no GET takes, then its headers are the GET answer\'s, content-length included', async () => {
    for (const url of ['/nope', '/ingest']) {
      const get = await app.inject({ method: 'GET', url });
      const head = await app.inject({ method: 'HEAD', url });
      assert.equal(head.statusCode, get.statusCode, url);
      assert.equal(head.body, '', url);
      assert.equal(head.headers['content-length'], get.headers['content-length'], url);
      assert.equal(head.headers.allow, get.headers.allow, url);
    }
  });

  it('when a query parameter is repeated, then the 400 says so; leading zeros are still decimal; a cut value keeps its emoji whole', async () => {
    for (const url of ['/posts?limit=1&limit=2', '/posts?limit=2&limit=2', '/runs?limit=1&limit=1']) {
      assert.equal(assertErrorBody(await app.inject({ method: 'GET', url }), 400, 'INVALID_REQUEST').message, "query parameter 'limit' is given 2 times; send it once", url);
    }
    for (const url of ['/posts?offset=-0', '/posts?after=-0', '/posts?after=%2D0']) {
      assert.match(assertErrorBody(await app.inject({ method: 'GET', url }), 400, 'INVALID_REQUEST').message, /must be an integer from 0 to/, url);
    }
    const padded = await app.inject({ method: 'GET', url: '/posts?limit=00000000000000002' });
    assert.equal(padded.statusCode, 200);
    assert.equal((padded.json() as { limit: number }).limit, 2);
    assert.equal((await app.inject({ method: 'GET', url: '/posts/00000000000000000001' })).statusCode, 404, 'id 1, not stored');
    const emoji = encodeURIComponent('😀'.repeat(25));
    const { message } = assertErrorBody(await app.inject({ method: 'GET', url: `/posts?limit=a${emoji}` }), 400, 'INVALID_REQUEST');
    assert.ok(message.isWellFormed() && !message.includes('\\ud83d'), message);
  });

  it('when GET /status before any run, then it answers never_run', async () => {
    const response = await app.inject({ method: 'GET', url: '/status' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), NEVER_RUN);
  });

  it('when GET /runs?limit=0, then it answers 400 naming limit', async () => {
    const response = await app.inject({ method: 'GET', url: '/runs?limit=0' });
    assert.match(assertErrorBody(response, 400, 'INVALID_REQUEST').message, /query parameter 'limit' must be an integer from 1 to 1000/);
  });

  it('when GET /openapi.json, then it lists /posts, /posts/{id}, /status, /runs and /health with the app version', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json() as { openapi: string; info: { version: string }; paths: Record<string, unknown> };
    assert.match(document.openapi, /^3\./);
    assert.equal(document.info.version, '9.9.9-test');
    for (const path of ['/posts', '/posts/{id}', '/status', '/runs', '/health']) {
      assert.ok(path in document.paths, `${path} in ${Object.keys(document.paths).join(', ')}`);
    }
    assert.ok(!('/openapi.json' in document.paths));
  });

  it('when GET /openapi.json, then defaulted parameters are optional, shared schemas keep their names and every status /posts/{id} gives is listed', async () => {
    type Operation = { parameters: Array<{ name: string; in: string; required?: boolean }>; responses: Record<string, unknown> };
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { get: Operation }>; components: { schemas: Record<string, unknown> } };
    for (const [path, name] of [['/posts', 'limit'], ['/posts', 'offset'], ['/posts', 'after'], ['/runs', 'limit']] as const) {
      const parameter = document.paths[path]?.get.parameters.find((p) => p.name === name && p.in === 'query');
      assert.ok(parameter, `${path} ${name}`);
      assert.notEqual(parameter.required, true, `${path} ${name} has a default or may be left out`);
    }
    assert.deepEqual(Object.keys(document.components.schemas).sort(), ['Error', 'Post', 'Run']);
    assert.deepEqual(Object.keys(document.paths['/posts/{id}']?.get.responses ?? {}).sort(), ['200', '400', '404', '414', '503']);
  });

  it('when any request is answered, then the response carries a generated x-request-id', async () => {
    const ids = new Set<string>();
    for (const url of ['/health', '/posts', '/posts?limit=0', '/posts/5', '/nope', '/openapi.json']) {
      const response = await app.inject({ method: 'GET', url });
      const id = response.headers['x-request-id'];
      assert.equal(typeof id, 'string', `${url} has x-request-id`);
      assert.match(id as string, UUID);
      ids.add(id as string);
    }
    assert.equal(ids.size, 6, 'each request gets its own id');
  });

  it('when the caller sends a sane X-Request-Id, then it is echoed', async () => {
    for (const url of ['/health', '/posts?limit=0', '/nope']) {
      const response = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'abc-123.DEF_4' } });
      assert.equal(response.headers['x-request-id'], 'abc-123.DEF_4');
    }
  });

  for (const [label, given] of [
    ['holds spaces and angle brackets', 'bad id <script>'],
    ['is longer than 64 characters', 'a'.repeat(65)],
  ] as const) {
    it(`when the caller's X-Request-Id ${label}, then a fresh id replaces it`, async () => {
      const response = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': given } });
      assert.match(String(response.headers['x-request-id']), UUID);
    });
  }
});

describe('API on a SQLite store seeded by a real run', () => {
  // Even ids 2..50: 25 posts, so `after` can point between stored ids.
  const posts: Post[] = Array.from({ length: 25 }, (_, index) => ({
    userId: (index % 3) + 1,
    id: (index + 1) * 2,
    title: `title ${index}`,
    body: `body ${index}`,
    ingested_at: STARTED_AT,
    source: SOURCE,
  }));
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    store = sqliteStore('seeded');
    await store.init();
    const writer = await store.beginRun({ runId: 'run-1', startedAt: STARTED_AT });
    await writer.write(posts.slice(0, 10));
    await writer.write(posts.slice(10));
    await writer.commit({ finishedAt: () => '2024-05-01T12:00:01.500Z', recordsIngested: posts.length, recordsRejected: 2 });
    app = await buildApp({ store, logger, version: 'test' });
  });

  after(async () => {
    await app.close();
    await store.close();
  });

  const ids = (body: unknown): number[] => (body as { posts: Post[] }).posts.map((post) => post.id);

  it('when GET /posts, then the first full page of 10 comes in id order with next_after the last id', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts' });
    assert.equal(response.statusCode, 200);
    const body = response.json() as { count: number; limit: number; offset: number; next_after: number | null; posts: Post[] };
    assert.deepEqual(ids(body), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    assert.equal(body.count, 10);
    assert.equal(body.limit, 10);
    assert.equal(body.offset, 0);
    assert.equal(body.next_after, 20);
    assert.deepEqual(body.posts[0], posts[0]);
  });

  it('when GET /posts with an offset past the last full page, then the partial page has next_after null', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?limit=10&offset=20' });
    const body = response.json() as { count: number; offset: number; next_after: number | null };
    assert.deepEqual(ids(body), [42, 44, 46, 48, 50]);
    assert.equal(body.count, 5);
    assert.equal(body.offset, 20);
    assert.equal(body.next_after, null);
  });

  it('when GET /posts with an offset past the end, then the page is empty with next_after null', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?offset=100' });
    assert.deepEqual(response.json(), { posts: [], count: 0, limit: 10, offset: 100, next_after: null });
  });

  it('when GET /posts?after=<id between stored ids>, then the page starts at the next greater id', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts?after=21&limit=3' });
    const body = response.json() as { next_after: number | null };
    assert.deepEqual(ids(body), [22, 24, 26]);
    assert.equal(body.next_after, 26);
  });

  it('when the pages are walked with next_after, then every post is seen once, in order, and the walk ends with null', async () => {
    const seen: number[] = [];
    let cursor: number | null = 0;
    let pages = 0;
    while (cursor !== null && pages < 20) {
      const url: string = `/posts?limit=7&after=${cursor}`;
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200);
      const body = response.json() as { next_after: number | null };
      seen.push(...ids(body));
      cursor = body.next_after;
      pages++;
    }
    assert.deepEqual(seen, posts.map((post) => post.id));
    assert.equal(pages, 4);
  });

  it('when the last page is exactly full, then next_after is its last id and the page after it is empty', async () => {
    const full = (await app.inject({ method: 'GET', url: '/posts?after=40&limit=5' })).json() as { next_after: number | null };
    assert.deepEqual(ids(full), [42, 44, 46, 48, 50]);
    assert.equal(full.next_after, 50);
    const empty = (await app.inject({ method: 'GET', url: '/posts?after=50&limit=5' })).json() as { next_after: number | null; count: number };
    assert.equal(empty.count, 0);
    assert.equal(empty.next_after, null);
  });

  it('when GET /posts/4, then it answers that post with its stamp', async () => {
    const response = await app.inject({ method: 'GET', url: '/posts/4' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), posts[1]);
  });

  it('when GET /posts/5 between stored ids, then it answers 404 POST_NOT_FOUND', async () => {
    assertErrorBody(await app.inject({ method: 'GET', url: '/posts/5' }), 404, 'POST_NOT_FOUND');
  });

  it('when GET /status after the run, then it reports the success and its counts', async () => {
    const response = await app.inject({ method: 'GET', url: '/status' });
    assert.deepEqual(response.json(), {
      last_successful_run: STARTED_AT,
      last_attempt: STARTED_AT,
      status: 'success',
      records_ingested: 25,
      records_rejected: 2,
      last_error: null,
      last_duration_ms: 1500,
      last_run_replica: null,
    });
  });

  it('when GET /runs after the run, then the run is listed as a success', async () => {
    const body = (await app.inject({ method: 'GET', url: '/runs' })).json() as { count: number; runs: Array<Record<string, unknown>> };
    assert.equal(body.count, 1);
    assert.equal(body.runs[0]?.run_id, 'run-1');
    assert.equal(body.runs[0]?.status, 'success');
    assert.equal(body.runs[0]?.records_changed, 25);
  });
});

describe('API when the store fails', () => {
  it('when the store is unavailable, then every data route answers 503 STORE_UNAVAILABLE without the cause text', async () => {
    const store = failingStore((operation) => new StoreUnavailableError(operation, { cause: new Error('SQLITE_BUSY: database is locked at /var/lib/secret.db') }));
    const app = await buildApp({ store, logger, version: 'test' });
    try {
      for (const url of ['/posts', '/posts/5', '/status', '/runs']) {
        const response = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'req-503' } });
        const { message } = assertErrorBody(response, 503, 'STORE_UNAVAILABLE');
        assert.match(message, /the store is unavailable/);
        assert.ok(!response.body.includes('SQLITE_BUSY'), `${url}: ${response.body}`);
        assert.ok(!response.body.includes('/var/lib'), `${url}: ${response.body}`);
        assert.equal(response.headers['x-request-id'], 'req-503');
      }
      const health = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200, 'liveness never touches the store');
    } finally {
      await app.close();
    }
  });

  it('when a store method throws a plain Error with SQL and a path, then it answers a generic 500 INTERNAL_ERROR', async () => {
    const store = failingStore(() => new Error('SELECT secret FROM /var/lib/x'));
    const app = await buildApp({ store, logger, version: 'test' });
    try {
      for (const url of ['/posts', '/posts/5', '/status', '/runs']) {
        const response = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'req-500' } });
        const { message } = assertErrorBody(response, 500, 'INTERNAL_ERROR');
        assert.equal((response.json() as { error: string }).error, 'Internal Server Error');
        assert.ok(!response.body.includes('SELECT'), `${url}: ${response.body}`);
        assert.ok(!response.body.includes('/var/lib'), `${url}: ${response.body}`);
        assert.match(message, /req-500/, 'the message quotes the request id');
        assert.equal(response.headers['x-request-id'], 'req-500');
      }
    } finally {
      await app.close();
    }
  });
});

describe('API request logging', () => {
  /** Runs `fn` against an app on a fresh store whose logger, at `level`, parses its lines into the array given. */
  async function withLoggedApp(level: string, fn: (app: FastifyInstance, lines: Array<Record<string, unknown>>) => Promise<void>) {
    const lines: Array<Record<string, unknown>> = [];
    const store = sqliteStore(`logging-${level}`);
    await store.init();
    const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const app = await buildApp({ store, logger, version: 'test' });
    try {
      await fn(app, lines);
    } finally {
      await app.close();
      await store.close();
    }
  }

  it('when a request is refused, then its line at info carries the request id; an answered one logs nothing', async () => {
    await withLoggedApp('info', async (app, lines) => {
      assert.equal((await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'ok-1' } })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/posts/77', headers: { 'x-request-id': 'missing-1' } })).statusCode, 404);
      const requests = lines.filter((line) => line.msg === 'request');
      assert.deepEqual(
        requests.map(({ reqId, level, url, statusCode }) => ({ reqId, level, url, statusCode })),
        [{ reqId: 'missing-1', level: 30, url: '/posts/77', statusCode: 404 }],
      );
    });
  });

  it('when a refused request carries a secret in its query, or the router refuses its path, then its line hides the secret and is written once', async () => {
    await withLoggedApp('info', async (app, lines) => {
      assert.equal((await app.inject({ method: 'GET', url: '/posts?limit=5&api_key=S3CRET-1&token=S3CRET-2' })).statusCode, 400);
      assert.equal((await app.inject({ method: 'GET', url: '/posts/%zz' })).statusCode, 400);
      const names = ['x-api-key', 'api%5Fkey', 'client_secret', 'auth_token', 'private_token', 'X-Amz-Signature', 'jwt', 'session_id', 'sig', 'Password'];
      // Five a request: a logged URL is cut short past 200 characters.
      const groups = [names.slice(0, 5), names.slice(5)];
      for (const group of groups) assert.equal((await app.inject({ method: 'GET', url: `/posts?${group.map((name, i) => `${name}=S3CRET-${i + 3}`).join('&')}&page=2` })).statusCode, 400);
      assert.equal((await app.inject({ method: 'GET', url: '/posts;token=S3CRET-20' })).statusCode, 404);
      const requests = lines.filter((line) => line.msg === 'request');
      assert.deepEqual(
        requests.map(({ url, statusCode }) => ({ url, statusCode })),
        [
          { url: '/posts?limit=5&api_key=[redacted]&token=[redacted]', statusCode: 400 },
          { url: '/posts/%zz', statusCode: 400 },
          ...groups.map((group) => ({ url: `/posts?${group.map((name) => `${name}=[redacted]`).join('&')}&page=2`, statusCode: 400 })),
          { url: '/posts;token=[redacted]', statusCode: 404 },
        ],
      );
      assert.ok(!JSON.stringify(lines).includes('S3CRET'));
    });
  });

  it('when the HTTP parser refuses a request, then its log line carries the x-request-id its answer gave', async () => {
    await withLoggedApp('info', async (app, lines) => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const answer = await sendRawRequest(port, { method: 'GET', target: '/posts', version: 'HTTP/1.1', headerLines: ['Host: x', 'no colon here'] }, 5_000);
      assert.equal(answer?.statusCode, 400);
      const line = lines.find((l) => l.msg === 'request' && l.statusCode === 400);
      assert.ok(answer?.headers['x-request-id']);
      assert.equal(line?.reqId, answer?.headers['x-request-id']);
    });
  });

  it('when LOG_LEVEL is debug, then each answered request logs one line with its own request id', async () => {
    await withLoggedApp('debug', async (app, lines) => {
      await Promise.all(['a-1', 'b-2', 'c-3'].map((id) => app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': id } })));
      const requests = lines.filter((line) => line.msg === 'request');
      assert.deepEqual(requests.map((line) => line.reqId).sort(), ['a-1', 'b-2', 'c-3']);
      assert.ok(requests.every((line) => line.level === 20 && line.statusCode === 200));
    });
  });
});
