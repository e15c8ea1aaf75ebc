import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api/app.js';
import type { ProtectionOptions } from '../../src/api/protection.js';
import { createMetrics } from '../../src/metrics.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { RUN_HISTORY_LIMIT } from '../../src/stores/store.js';

const logger = pino({ level: 'silent' });
const KEY = 'k3y-for-tests-0123456789';
const OTHER_KEY = 'another-key-abcdefghijkl';
const OPEN: ProtectionOptions = { apiKeys: [], rateLimit: 0, trustProxy: false, corsOrigins: [], maxEventLoopDelayMs: 0 };

let tempDir: string;
const apps: FastifyInstance[] = [];

before(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'protection-test-'));
});
after(async () => {
  await Promise.all(apps.map((app) => app.close()));
  rmSync(tempDir, { recursive: true, force: true });
});

/** The app on a real SQLite store, with the protection given; `trigger` stands in for the scheduler. */
async function appWith(protection: Partial<ProtectionOptions>, trigger?: () => Promise<{ runId: string; replica: string }>, log = logger): Promise<FastifyInstance> {
  const store = new SqliteStore({ path: join(tempDir, `${apps.length}.db`), tableName: 'ingested_data', source: 'test', batchSize: 100, runHistoryLimit: RUN_HISTORY_LIMIT });
  await store.init();
  const app = await buildApp({ store, logger: log, version: 'test', metrics: createMetrics(), trigger, protection: { ...OPEN, ...protection } });
  app.addHook('onClose', () => store.close());
  apps.push(app);
  return app;
}

async function call(app: FastifyInstance, options: InjectOptions) {
  const response = await app.inject(options);
  const json = response.headers['content-type']?.toString().startsWith('application/json') ? (response.json() as Record<string, unknown>) : undefined;
  return { status: response.statusCode, headers: response.headers, json };
}

describe('API keys', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await appWith({ apiKeys: [KEY, OTHER_KEY] });
  });

  it('when a request has no key or a wrong one, then it is a 401 JSON error that names both ways to send one', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-key-0000000000000' }, { 'x-api-key': `${KEY}x` }, { authorization: KEY }]) {
      const { status, json } = await call(app, { method: 'GET', url: '/posts', headers });
      assert.equal(status, 401, JSON.stringify(headers));
      assert.equal(json?.code, 'UNAUTHORIZED');
      assert.match(String(json?.message), /Authorization: Bearer <key> or X-API-Key/);
    }
  });

  it('when a configured key comes as a Bearer token or in X-API-Key, then the request is served', async () => {
    assert.equal((await call(app, { method: 'GET', url: '/posts', headers: { authorization: `Bearer ${KEY}` } })).status, 200);
    assert.equal((await call(app, { method: 'GET', url: '/status', headers: { 'x-api-key': OTHER_KEY } })).status, 200);
  });

  it('when probes and the scrape come without a key, then they are served', async () => {
    for (const url of ['/health', '/ready', '/metrics']) assert.equal((await call(app, { method: 'GET', url })).status, 200, url);
  });

  it('when an unknown route is asked without a key, then it is a 401, so the API cannot be mapped without one', async () => {
    assert.equal((await call(app, { method: 'GET', url: '/admin' })).status, 401);
    assert.equal((await call(app, { method: 'GET', url: '/admin', headers: { 'x-api-key': KEY } })).status, 404);
  });
});

describe('POST /ingest', () => {
  it('when no API key is configured, then it is refused with 403 INGEST_DISABLED and starts nothing', async () => {
    let started = 0;
    const app = await appWith({}, async () => ({ runId: `run-${++started}`, replica: 'pod-a' }));
    const { status, json } = await call(app, { method: 'POST', url: '/ingest' });
    assert.equal(status, 403);
    assert.equal(json?.code, 'INGEST_DISABLED');
    assert.equal(started, 0);
  });

  it('when a key is configured, then it needs one and answers 202 with the run id and the replica', async () => {
    const app = await appWith({ apiKeys: [KEY] }, async () => ({ runId: 'run-1', replica: 'pod-a' }));
    assert.equal((await call(app, { method: 'POST', url: '/ingest' })).status, 401);
    const { status, json } = await call(app, { method: 'POST', url: '/ingest', headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(status, 202);
    assert.deepEqual(json, { run_id: 'run-1', replica: 'pod-a' });
  });

  it('when GET /ingest, then without a key it is 401 like any route, and with one 405 with Allow: POST', async () => {
    const app = await appWith({ apiKeys: [KEY] }, async () => ({ runId: 'run-1', replica: 'pod-a' }));
    assert.equal((await call(app, { method: 'GET', url: '/ingest' })).status, 401);
    const { status, headers, json } = await call(app, { method: 'GET', url: '/ingest', headers: { 'x-api-key': KEY } });
    assert.equal(status, 405);
    assert.equal(headers.allow, 'POST');
    assert.equal(json?.code, 'METHOD_NOT_ALLOWED');
  });
});

describe('request bodies Fastify refuses', () => {
  it('when POST /ingest has a body that is not JSON, empty JSON, another media type or too large, then each answer uses a code of the catalog', async () => {
    const app = await appWith({ apiKeys: [KEY] }, async () => ({ runId: 'run-1', replica: 'pod-a' }));
    const auth = { authorization: `Bearer ${KEY}` };
    const cases = [
      { headers: { ...auth, 'content-type': 'application/json' }, payload: '{bad', status: 400, code: 'INVALID_REQUEST', message: /not valid JSON/ },
      { headers: { ...auth, 'content-type': 'application/json' }, payload: '', status: 400, code: 'INVALID_REQUEST', message: /empty/ },
      { headers: { ...auth, 'content-type': 'application/xml' }, payload: '<a/>', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
      { headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hi', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
      { headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(70_000) }), status: 413, code: 'BODY_TOO_LARGE', message: /too large/ },
    ];
    for (const { headers, payload, status, code, message } of cases) {
      const answer = await call(app, { method: 'POST', url: '/ingest', headers, payload });
      assert.equal(answer.status, status, payload.slice(0, 20));
      assert.equal(answer.json?.code, code);
      assert.match(String(answer.json?.message), message);
    }
  });
});

describe('rate limit', () => {
  it('when a client passes RATE_LIMIT requests a minute, then it gets 429 RATE_LIMITED with Retry-After, logged at debug only, and probes are never limited', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const app = await appWith({ rateLimit: 3 }, undefined, capture);
    for (let i = 0; i < 3; i++) assert.equal((await call(app, { method: 'GET', url: '/posts' })).status, 200);
    const limited = await call(app, { method: 'GET', url: '/posts' });
    assert.equal(limited.status, 429);
    assert.equal(limited.json?.code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After in seconds');
    assert.deepEqual(lines.filter((line) => line.statusCode === 429), [], 'a line each would add to the load');
    for (let i = 0; i < 5; i++) assert.equal((await call(app, { method: 'GET', url: '/health' })).status, 200);
    assert.equal((await call(app, { method: 'GET', url: '/posts', remoteAddress: '10.0.0.9' })).status, 200, 'another client has its own budget');
  });

  it('when TRUST_PROXY names the proxies, then a client behind them is counted by its forwarded address, and one writing X-Forwarded-For itself by its own', async () => {
    const app = await appWith({ rateLimit: 2, trustProxy: '10.0.0.0/8' });
    const viaProxy = (client: string) => call(app, { method: 'GET', url: '/posts', remoteAddress: '10.1.2.3', headers: { 'x-forwarded-for': `${client}, 203.0.113.7` } });
    assert.equal((await viaProxy('1.1.1.1')).status, 200);
    assert.equal((await viaProxy('2.2.2.2')).status, 200);
    assert.equal((await viaProxy('3.3.3.3')).status, 429, 'the client is 203.0.113.7, the entry the trusted proxy added; what came before it is the client\'s own writing');
    for (let i = 0; i < 2; i++) {
      assert.equal((await call(app, { method: 'GET', url: '/posts', remoteAddress: '198.51.100.1', headers: { 'x-forwarded-for': `9.9.9.${i}` } })).status, 200);
    }
    assert.equal((await call(app, { method: 'GET', url: '/posts', remoteAddress: '198.51.100.1', headers: { 'x-forwarded-for': '9.9.9.9' } })).status, 429, 'an untrusted peer is counted by its own address');
  });

  it('when keys are guessed, then the guesses count against the limit too', async () => {
    const app = await appWith({ rateLimit: 2, apiKeys: [KEY] });
    for (let i = 0; i < 2; i++) assert.equal((await call(app, { method: 'GET', url: '/posts', headers: { 'x-api-key': `guess-${i}-0000000000000` } })).status, 401);
    assert.equal((await call(app, { method: 'GET', url: '/posts', headers: { 'x-api-key': KEY } })).status, 429);
  });

  it('when unknown paths and wrong methods are asked, then they count against the same limit, so they cannot grade key guesses', async () => {
    const app = await appWith({ rateLimit: 3, apiKeys: [KEY] });
    const guess = (i: number) => ({ 'x-api-key': `guess-${i}-0000000000000` });
    assert.equal((await call(app, { method: 'GET', url: '/posts', headers: guess(0) })).status, 401);
    assert.equal((await call(app, { method: 'GET', url: '/nope', headers: guess(1) })).status, 401);
    assert.equal((await call(app, { method: 'DELETE', url: '/posts/1', headers: guess(2) })).status, 401);
    for (const [method, url] of [['GET', '/nope'], ['DELETE', '/posts/1'], ['GET', '/posts']] as const) {
      const limited = await call(app, { method, url, headers: { 'x-api-key': KEY } });
      assert.equal(limited.status, 429, `${method} ${url}`);
      assert.equal(limited.json?.code, 'RATE_LIMITED');
    }
    assert.equal((await call(app, { method: 'GET', url: '/nope', remoteAddress: '10.0.0.9', headers: { 'x-api-key': KEY } })).status, 404, 'another client has its own budget');
  });
});

describe('shutdown', () => {
  it('when a request arrives on an open connection while the app closes, then it gets 503 SHUTTING_DOWN in the error shape with Connection: close', async () => {
    const app = await appWith({});
    let entered: () => void = () => undefined;
    let release: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.get('/held', async () => {
      entered();
      await gate;
      return { held: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET /held HTTP/1.1\r\nHost: x\r\n\r\n');
    await inside;
    const closed = app.close();
    await new Promise((resolve) => setImmediate(resolve));
    // The connection is busy with /held, so the close leaves it open: the next request on it comes while closing.
    socket.write('GET /posts HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await ended;
    await closed;
    const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
    assert.match(first ?? '', /^HTTP\/1\.1 200 /, 'the request in flight still finishes');
    assert.match(second ?? '', /^HTTP\/1\.1 503 /);
    assert.match(second ?? '', /\r\nconnection: close\r\n/i);
    const body = JSON.parse((second ?? '').split('\r\n\r\n')[1] ?? '{}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(body.code, 'SHUTTING_DOWN');
  });
});

describe('headers and CORS', () => {
  it('when any response goes out, then it carries the security headers', async () => {
    const app = await appWith({});
    const { headers } = await call(app, { method: 'GET', url: '/posts' });
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.ok(headers['strict-transport-security']);
    assert.equal(headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
    const error = await call(app, { method: 'GET', url: '/posts/0' });
    assert.equal(error.headers['x-content-type-options'], 'nosniff', 'errors carry them too');
  });

  it('when CORS_ORIGINS is empty, then no browser origin is allowed', async () => {
    const app = await appWith({});
    const { headers } = await call(app, { method: 'GET', url: '/posts', headers: { origin: 'https://app.example.com' } });
    assert.equal(headers['access-control-allow-origin'], undefined);
  });

  it('when CORS_ORIGINS lists an origin, then that origin is allowed, preflight included even with keys, and others are not', async () => {
    const app = await appWith({ corsOrigins: ['https://app.example.com'], apiKeys: [KEY] });
    const preflight = await call(app, {
      method: 'OPTIONS',
      url: '/posts',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
    const other = await call(app, { method: 'GET', url: '/posts', headers: { origin: 'https://evil.example', 'x-api-key': KEY } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  it('when API_KEYS is set and CORS is off, then OPTIONS without a key is a 401 on every path, so it cannot map the API', async () => {
    const app = await appWith({ apiKeys: [KEY] });
    for (const url of ['/posts', '/ingest', '/nope']) {
      const { status, headers, json } = await call(app, { method: 'OPTIONS', url });
      assert.equal(status, 401, url);
      assert.equal(headers.allow, undefined, url);
      assert.equal(json?.code, 'UNAUTHORIZED', url);
    }
    assert.equal((await call(app, { method: 'OPTIONS', url: '/posts', headers: { 'x-api-key': KEY } })).status, 405, 'with a key, the answer is the route\'s');
  });

  it('when the router refuses a path (a parameter over 100 characters, bad percent-encoding), then the answer is the same with a key, a wrong one or none, and carries the security headers', async () => {
    const app = await appWith({ apiKeys: [KEY], rateLimit: 2 });
    for (const url of [`/posts/${'1'.repeat(101)}`, '/posts/%zz']) {
      const answers = [];
      // Past the rate limit too: no hook runs for these, so an answer that graded keys would do so unlimited.
      for (const headers of [{}, { 'x-api-key': 'wrong-key-00000000000' }, { 'x-api-key': KEY }, {}, { 'x-api-key': KEY }]) {
        const { status, json, headers: sent } = await call(app, { method: 'GET', url, headers });
        assert.equal(sent['x-content-type-options'], 'nosniff', url);
        assert.equal(sent['x-frame-options'], 'DENY', url);
        answers.push(`${status} ${String(json?.code)}`);
      }
      assert.equal(new Set(answers).size, 1, `${url}: ${answers.join(', ')}`);
      assert.equal(answers[0], url.includes('%') ? '400 INVALID_REQUEST' : '414 INVALID_REQUEST');
    }
  });

  it('when CORS answers OPTIONS on every path, then an unknown path is still a 404, not a 405 allowing OPTIONS', async () => {
    const app = await appWith({ corsOrigins: ['https://app.example.com'] });
    const { status, headers, json } = await call(app, { method: 'GET', url: '/no/such/path' });
    assert.equal(status, 404);
    assert.equal(headers.allow, undefined);
    assert.equal(json?.code, 'ROUTE_NOT_FOUND');
  });
});

describe('load shedding', () => {
  it('when the event loop lags past MAX_EVENT_LOOP_DELAY, then requests get 503 OVERLOADED at once, logged at debug only, and /health stays 200', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const app = await appWith({ maxEventLoopDelayMs: 20 }, undefined, capture);
    // Block the loop in slices, so the sampler (every second) sees a high mean delay.
    let shed: Awaited<ReturnType<typeof call>> | undefined;
    const deadline = Date.now() + 10_000;
    while (!shed && Date.now() < deadline) {
      const until = Date.now() + 200;
      while (Date.now() < until) {
        // busy: the lag the service must notice
      }
      await new Promise((resolve) => setImmediate(resolve));
      const answer = await call(app, { method: 'GET', url: '/posts' });
      if (answer.status === 503) shed = answer;
    }
    assert.ok(shed, 'a request was shed while the loop lagged');
    assert.equal(shed.json?.code, 'OVERLOADED');
    assert.deepEqual(lines.filter((line) => line.statusCode === 503 || line.msg === 'store unavailable'), [], 'no info line, and no false store alarm');
    assert.equal(shed.headers['retry-after'], '5');
    assert.equal((await call(app, { method: 'GET', url: '/health' })).status, 200);
  });
});

describe('the OpenAPI document describes the protection', () => {
  type Operation = { responses: Record<string, unknown>; security?: unknown[] };
  type Document = { paths: Record<string, Record<string, Operation>>; components?: { securitySchemes?: Record<string, unknown> } };
  const documentOf = async (app: FastifyInstance) => (await call(app, { method: 'GET', url: '/openapi.json', headers: { 'x-api-key': KEY } })).json as unknown as Document;

  it('when keys and a rate limit are set, then every guarded route lists 401 and 429 and how to send a key, and the probes list neither', async () => {
    const document = await documentOf(await appWith({ apiKeys: [KEY], rateLimit: 1000 }, async () => ({ runId: 'r', replica: 'p' })));
    assert.deepEqual(Object.keys(document.components?.securitySchemes ?? {}).sort(), ['apiKey', 'bearer']);
    for (const [path, method] of [['/posts', 'get'], ['/posts/{id}', 'get'], ['/status', 'get'], ['/runs', 'get'], ['/ingest', 'post']] as const) {
      const operation = document.paths[path]?.[method];
      assert.ok(operation?.responses['401'] && operation.responses['429'], `${method} ${path}: ${JSON.stringify(operation?.responses)}`);
      assert.deepEqual(operation.security, [{ bearer: [] }, { apiKey: [] }]);
    }
    for (const path of ['/health', '/ready']) {
      const operation = document.paths[path]?.get;
      assert.ok(operation, path);
      assert.equal(operation.security, undefined, path);
      assert.ok(!('401' in operation.responses) && !('429' in operation.responses), path);
    }
  });

  it('when the API is open, then no route lists 401 or 429 and no key scheme is described', async () => {
    const document = await documentOf(await appWith({}));
    assert.equal(document.components?.securitySchemes, undefined);
    const get = document.paths['/posts']?.get;
    assert.ok(get && !('401' in get.responses) && !('429' in get.responses) && get.security === undefined);
  });

  it('when POST /ingest is listed, then its statuses are those it can answer: 403 only without keys, 401 but no 403 with them', async () => {
    const trigger = async () => ({ runId: 'r', replica: 'p' });
    const statuses = async (protection: Partial<ProtectionOptions>) => Object.keys((await documentOf(await appWith(protection, trigger))).paths['/ingest']?.post?.responses ?? {}).sort();
    assert.deepEqual(await statuses({}), ['400', '403', '413', '415']);
    assert.deepEqual(await statuses({ apiKeys: [KEY] }), ['202', '400', '401', '409', '413', '415', '503']);
  });
});
