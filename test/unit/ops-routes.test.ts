import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api/app.js';
import { createMetrics } from '../../src/metrics.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { RUN_HISTORY_LIMIT } from '../../src/stores/store.js';
import { sendRawRequest } from '../support/raw-http.js';
import { at, ingestRun, samplePost } from '../support/store-fixtures.js';

const logger = pino({ level: 'silent' });

let tempDir: string;

function sqliteStore(name: string): SqliteStore {
  return new SqliteStore({ path: join(tempDir, `${name}.db`), tableName: 'ingested_data', source: 'placeholder_api', batchSize: 1000, runHistoryLimit: RUN_HISTORY_LIMIT });
}

/** A live SQLite store and an app built on it with its own metrics registry. */
async function startApp(name: string): Promise<{ store: SqliteStore; app: FastifyInstance }> {
  const store = sqliteStore(name);
  await store.init();
  const app = await buildApp({ store, logger, version: '9.9.9-test', metrics: createMetrics() });
  return { store, app };
}

before(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'ops-routes-test-'));
});

after(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

describe('GET /ready', () => {
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    ({ store, app } = await startApp('ready'));
  });

  after(async () => {
    await app.close();
    await store.close();
  });

  it('when the store answers, then it answers 200 with status ready', async () => {
    const response = await app.inject({ method: 'GET', url: '/ready' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ready' });
  });

  it('when the store is closed, then it answers 503 STORE_UNAVAILABLE with the standard error body, and /health stays 200', async () => {
    await store.close();
    const response = await app.inject({ method: 'GET', url: '/ready' });
    assert.equal(response.statusCode, 503);
    const body = response.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(body.statusCode, 503);
    assert.equal(body.code, 'STORE_UNAVAILABLE');
    assert.equal(body.error, 'Service Unavailable');
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  });
});

describe('GET /metrics', () => {
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    ({ store, app } = await startApp('metrics'));
  });

  after(async () => {
    await app.close();
    await store.close();
  });

  it('when /posts/5 and /posts/6 were requested, then http_requests_total has one series for the route pattern', async () => {
    await app.inject({ method: 'GET', url: '/posts/5' });
    await app.inject({ method: 'GET', url: '/posts/6' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const series = response.body.split('\n').filter((line) => line.startsWith('http_requests_total{') && line.includes('route="/posts/:id"'));
    assert.deepEqual(series, ['http_requests_total{method="GET",route="/posts/:id",status_code="404"} 2']);
    assert.doesNotMatch(response.body, /route="\/posts\/[56]"/);
    assert.match(response.body, /^http_request_duration_seconds_count\{method="GET",route="\/posts\/:id"\} 2$/m);
  });

  it('when an unknown URL was requested, then its route label is not_found, not the URL', async () => {
    await app.inject({ method: 'GET', url: '/no/such/thing' });
    const { body } = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(body, /^http_requests_total\{method="GET",route="not_found",status_code="404"\} 1$/m);
    assert.doesNotMatch(body, /no\/such\/thing/);
  });

  it('when the router refused a path (bad percent-encoding), then the answer is counted under not_found too', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/posts/%zz' })).statusCode, 400);
    const { body } = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(body, /^http_requests_total\{method="GET",route="not_found",status_code="400"\} 1$/m);
    assert.match(body, /^http_request_duration_seconds_count\{method="GET",route="not_found"\} [1-9]/m);
  });

  it('when the HTTP parser refuses a request, or CONNECT is asked, then each is counted under not_found by its method', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const malformed = await sendRawRequest(port, { method: 'GET', target: '/posts', version: 'HTTP/1.1', headerLines: ['Host: x', 'no colon here'] }, 5_000);
    assert.equal(malformed?.statusCode, 400);
    const tunnel = await sendRawRequest(port, { method: 'CONNECT', target: 'example.com:443', version: 'HTTP/1.1', headerLines: ['Host: example.com:443'] }, 5_000);
    assert.equal(tunnel?.statusCode, 405);
    const { body } = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(body, /^http_requests_total\{method="unknown",route="not_found",status_code="400"\} 1$/m);
    assert.match(body, /^http_requests_total\{method="CONNECT",route="not_found",status_code="405"\} 1$/m);
  });

  it('when scraped, then it includes the default process metrics and the ingestion metrics', async () => {
    const { body } = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(body, /^process_cpu_user_seconds_total /m);
    for (const name of ['ingestion_runs_total', 'ingestion_records_ingested_total', 'ingestion_records_rejected_total', 'ingestion_run_duration_seconds', 'ingestion_upstream_retries_total', 'ingestion_last_success_timestamp_seconds']) {
      assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    // Before any run: an alert on increase() sees the first failure after a restart as 0 -> 1.
    assert.match(body, /^ingestion_runs_total\{outcome="success"\} 0$/m);
    assert.match(body, /^ingestion_runs_total\{outcome="failed"\} 0$/m);
  });

  it('when a run succeeded before this process started, then the last success comes from the store, and a failing store leaves the scrape answering', async () => {
    const lastSuccess = async (scraped: FastifyInstance) => {
      const response = await scraped.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      return Number(/^ingestion_last_success_timestamp_seconds (\S+)$/m.exec(response.body)?.[1]);
    };
    assert.equal(await lastSuccess(app), 0, 'no run has succeeded yet');
    // Another process's run (another replica, or this one before a restart): this app's metrics never saw it.
    await ingestRun(store, 'earlier-run', at(3), [samplePost(1, 'placeholder_api')]);
    assert.equal(await lastSuccess(app), Date.parse(at(3)) / 1000);
    await store.close();
    assert.equal(await lastSuccess(app), Date.parse(at(3)) / 1000, 'the last reading stays');
  });

  it('when the OpenAPI document is read, then /metrics is hidden and /ready is listed', async () => {
    const { paths } = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    assert.ok('/ready' in paths);
    assert.ok(!('/metrics' in paths));
  });
});
