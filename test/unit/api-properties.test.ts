import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api/app.js';
import { createMetrics } from '../../src/metrics.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { RUN_HISTORY_LIMIT } from '../../src/stores/store.js';
import {
  SEEDED_POST_IDS,
  commonMethod,
  injectableMethod,
  knownRoutePath,
  queryString,
  rawRequest,
  requestBody,
  requestHeaders,
  requestPath,
} from '../support/http-arbitraries.js';
import { sendRawRequest, type RawRequest } from '../support/raw-http.js';
import { at, ingestRun, samplePost } from '../support/store-fixtures.js';

/**
 * The contract, checked on random requests: every answer is a 2xx, 4xx or 503 (never a 3xx, never a
 * 500), a JSON body in the error shape when it is an error, an x-request-id, and it comes within 5 s. The
 * arbitraries are in test/support/http-arbitraries.ts. fast-check prints the seed and the shrunk request of a
 * failure; replay it with `fc.assert(..., { seed, path })`.
 */

const SOURCE = 'placeholder_api';
const ANSWER_TIMEOUT_MS = 5_000;
/** The failing assertion goes into fast-check's message, next to the seed and counterexample: node:test shows no `cause`. */
const propertyOptions = (numRuns: number) => ({ numRuns, includeErrorInReport: true });
/** As src/api/app.ts: a caller's X-Request-Id matching this is echoed, any other is replaced. */
const SANE_REQUEST_ID = /^[\w.-]{1,64}$/;

interface Answer {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: string;
}

function assertErrorShape(body: unknown, statusCode: number): void {
  const error = body as Record<string, unknown>;
  assert.equal(error.statusCode, statusCode, 'statusCode in the body equals the HTTP status');
  assert.equal(error.error, STATUS_CODES[statusCode], 'error is the reason phrase');
  assert.equal(typeof error.code, 'string', 'code');
  assert.equal(typeof error.message, 'string', 'message');
}

/**
 * A 2xx, 4xx or 503; an x-request-id (the caller's when sane); HEAD answers empty; otherwise JSON, in the error
 * shape for errors, except the Prometheus text of GET /metrics.
 */
function assertAnswerKeepsContract(method: string, answer: Answer, sentRequestId?: string): void {
  const { statusCode, body } = answer;
  const summary = `${statusCode} ${body.slice(0, 300)}`;
  assert.ok((statusCode >= 200 && statusCode < 300) || (statusCode >= 400 && statusCode < 500) || statusCode === 503, `status: ${summary}`);
  const requestId = answer.headers['x-request-id'];
  assert.equal(typeof requestId, 'string', `x-request-id header: ${summary}`);
  if (sentRequestId !== undefined && SANE_REQUEST_ID.test(sentRequestId)) assert.equal(requestId, sentRequestId, 'a sane X-Request-Id is echoed');
  if (method === 'HEAD') {
    assert.equal(body, '', 'HEAD answers without a body');
    return;
  }
  if (statusCode === 204) return;
  const contentType = String(answer.headers['content-type']);
  if (contentType.startsWith('text/plain')) {
    assert.equal(statusCode, 200, summary);
    assert.match(body, /^# HELP /, 'the only text answer is the Prometheus exposition of GET /metrics');
    return;
  }
  assert.match(contentType, /^application\/json/, summary);
  let parsed: unknown;
  assert.doesNotThrow(() => (parsed = JSON.parse(body)), `body is JSON: ${summary}`);
  if (statusCode >= 400) assertErrorShape(parsed, statusCode);
}

function withinTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms to ${what}`)), ANSWER_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let tempDir: string;
let store: SqliteStore;
let app: FastifyInstance;
let port: number;

async function injectAnswer(method: string, url: string, headers: Record<string, string> = {}, payload?: string): Promise<Answer> {
  const options: InjectOptions = { method: method as InjectOptions['method'], url, headers, ...(payload === undefined ? {} : { payload }) };
  const response = await withinTimeout(app.inject(options), `${method} ${url.slice(0, 200)}`);
  return { statusCode: response.statusCode, headers: response.headers, body: response.body };
}

before(async () => {
  tempDir = mkdtempSync(join(tmpdir(), 'api-properties-test-'));
  // Removed at exit rather than in after(): under Node 20's node:test the process sometimes exits while the
  // top-level after() still awaits the app's close, and the directory stayed behind.
  process.once('exit', () => rmSync(tempDir, { recursive: true, force: true }));
  store = new SqliteStore({ path: join(tempDir, 'fuzz.db'), tableName: 'ingested_data', source: SOURCE, batchSize: 1000, runHistoryLimit: RUN_HISTORY_LIMIT });
  await store.init();
  // Stored posts and a finished run, so /posts, /posts/{id}, /status and /runs answer with data, unicode included.
  const posts = SEEDED_POST_IDS.map((id) => samplePost(id, SOURCE, { title: `título ${id} ✓ "quoted" \\ back`, body: 'line\nnext 😀' }));
  await ingestRun(store, 'seed-run', at(1), posts);
  // What a production app has in front of the routes, except the key check and the rate limit, which would
  // answer most random requests 401 or 429 before they reach anything else, and load shedding, whose 503s
  // depend on the machine's load (all three: test/unit/protection.test.ts).
  app = await buildApp({
    store,
    logger: pino({ level: 'silent' }),
    version: 'fuzz',
    metrics: createMetrics(),
    trigger: async () => ({ runId: 'fuzz-run', replica: 'fuzz' }),
    protection: { apiKeys: [], rateLimit: 0, trustProxy: false, corsOrigins: ['https://app.example.com'], maxEventLoopDelayMs: 0 },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});

after(async () => {
  await app.close();
  await store.close();
});

describe('API properties through inject()', () => {
  it('when GET or HEAD asks a known route with any query string, then every answer keeps the contract', async () => {
    const method = fc.oneof({ weight: 4, arbitrary: fc.constant('GET') }, fc.constant('HEAD'));
    await fc.assert(
      fc.asyncProperty(method, knownRoutePath, queryString, async (verb, path, query) => {
        const answer = await injectAnswer(verb, path + query);
        assertAnswerKeepsContract(verb, answer);
      }),
      propertyOptions(500),
    );
  });

  it('when any path is asked, with dots, double slashes, unicode, bad percent-encodings and huge segments, then every answer keeps the contract', async () => {
    await fc.assert(
      fc.asyncProperty(commonMethod, requestPath, queryString, async (method, path, query) => {
        const answer = await injectAnswer(method, path + query);
        assertAnswerKeepsContract(method, answer);
      }),
      propertyOptions(400),
    );
  });

  it('when any method, path, query, headers and body are sent, then every answer keeps the contract', async () => {
    await fc.assert(
      fc.asyncProperty(injectableMethod, requestPath, queryString, requestHeaders, requestBody, async (method, path, query, headers, body) => {
        const payload = method === 'GET' || method === 'HEAD' ? undefined : body;
        const answer = await injectAnswer(method, path + query, headers, payload);
        assertAnswerKeepsContract(method, answer, headers['x-request-id']);
      }),
      propertyOptions(400),
    );
  });
});

describe('API properties over a real socket', () => {
  it('when raw requests of any shape are sent (unknown methods, raw bytes in the target, bad headers, 20 KiB headers), then each is answered within 5 s and keeps the contract', async () => {
    await fc.assert(
      fc.asyncProperty(rawRequest, async (request: RawRequest) => {
        const answer = await sendRawRequest(port, request, ANSWER_TIMEOUT_MS);
        assert.ok(answer, 'the server answered before closing the connection');
        assertAnswerKeepsContract(request.method, answer);
      }),
      propertyOptions(300),
    );
  });
});

// What the properties above found when they were first written, kept as examples: each broke the contract.
describe('requests rejected before any route runs', () => {
  const assertWholeContract = (method: string, answer: Answer | undefined) => {
    assert.ok(answer, 'an answer');
    assertAnswerKeepsContract(method, answer);
  };

  it('when the path holds a bad percent-encoding (/posts/%zz), then the 400 carries x-request-id', async () => {
    assertWholeContract('GET', await injectAnswer('GET', '/posts/%zz'));
  });

  it('when a path parameter is over 100 characters (/posts/<101 digits>), then the answer carries x-request-id and a matching error', async () => {
    assertWholeContract('GET', await injectAnswer('GET', `/posts/${'1'.repeat(101)}`));
  });

  const parserRejections: ReadonlyArray<readonly [string, RawRequest]> = [
    ['an unknown method', { method: 'FOO', target: '/health', version: 'HTTP/1.1', headerLines: ['Host: localhost'] }],
    ['a raw space in the target', { method: 'GET', target: '/pos ts', version: 'HTTP/1.1', headerLines: ['Host: localhost'] }],
    ['a control byte in a header value', { method: 'GET', target: '/health', version: 'HTTP/1.1', headerLines: ['Host: localhost', 'x-a: \x01'] }],
    ['a 20 KiB header', { method: 'GET', target: '/health', version: 'HTTP/1.1', headerLines: ['Host: localhost', `x-a: ${'v'.repeat(20 * 1024)}`] }],
  ];
  for (const [label, request] of parserRejections) {
    it(`when a raw request has ${label}, then the rejection carries code and x-request-id`, async () => {
      assertWholeContract(request.method, await sendRawRequest(port, request, ANSWER_TIMEOUT_MS));
    });
  }

  it('when an HTTP/1.1 request has no Host header, then the 400 has a JSON error body and x-request-id', async () => {
    const request: RawRequest = { method: 'GET', target: '/health', version: 'HTTP/1.1', headerLines: [] };
    assertWholeContract(request.method, await sendRawRequest(port, request, ANSWER_TIMEOUT_MS));
  });

  it('when a raw CONNECT request is sent, then it is answered (a 4xx in the error shape) rather than hung up on', async () => {
    const request: RawRequest = { method: 'CONNECT', target: 'localhost:443', version: 'HTTP/1.1', headerLines: ['Host: localhost:443'] };
    assertWholeContract(request.method, await sendRawRequest(port, request, ANSWER_TIMEOUT_MS));
  });

  it('when GET /posts?offset= is past 2^63 on a healthy store, then it answers 400 INVALID_REQUEST, not 503 STORE_UNAVAILABLE', async () => {
    const answer = await injectAnswer('GET', '/posts?offset=9223372036854775808');
    assert.equal(answer.statusCode, 400, answer.body);
    assert.equal((JSON.parse(answer.body) as { code: string }).code, 'INVALID_REQUEST');
  });
});
