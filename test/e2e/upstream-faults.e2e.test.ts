import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IngestionStatus, Run } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName, type BackendHarness } from '../support/backends.js';
import { makePosts, startFakeUpstream, type Behaviour, type FakeUpstream } from '../support/fake-upstream.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

type Runs = { runs: Run[] };
const finished = (s: IngestionStatus) => s.status === 'success' || s.status === 'failed';

/** Until the upstream has a request: a run can say `running` before its request has arrived. */
async function firstRequest(upstream: FakeUpstream): Promise<void> {
  while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * How the service meets a misbehaving upstream. The run logic is the same for every store, so this suite
 * runs on the first selected store (SQLite unless TEST_STORES says otherwise).
 */
const backend = selectedBackends()[0];
if (backend) {
  describe(`upstream faults (on ${backend.name})`, () => {
    let harness: BackendHarness;
    let upstream: FakeUpstream | undefined;
    let svc: ServiceProcess | undefined;

    before(async () => {
      harness = await backend.start();
    });
    afterEach(async () => {
      await svc?.stop('SIGKILL');
      await upstream?.close();
      svc = undefined;
      upstream = undefined;
    });
    after(async () => {
      await harness?.stop();
    });

    /** A fresh upstream that first behaves as told, then serves `posts`; and a service ingesting from it. */
    async function scenario(behaviours: Behaviour[], env: Record<string, string> = {}, posts: unknown[] = makePosts(30)) {
      upstream = await startFakeUpstream(posts);
      upstream.enqueue(...behaviours);
      const tableName = uniqueTableName();
      svc = await startService({ ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url, RETRY_BASE_DELAY: '10ms', ...env });
      return { upstream, svc, tableName };
    }

    it('when the upstream answers 500 twice, then the run retries and succeeds on the third attempt', async () => {
      const { upstream, svc } = await scenario([{ kind: 'status', status: 500 }, { kind: 'status', status: 503 }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 30);
      assert.equal(upstream.requests.length, 3);
      const retries = await svc.waitForLogs((l) => l.msg === 'upstream attempt failed; retrying', 2);
      assert.equal(retries.length, 2);
    });

    it('when a run needed one retry for a 503, then GET /metrics counts the success and the retry by reason', async () => {
      const { svc } = await scenario([{ kind: 'status', status: 503 }]);
      assert.equal((await svc.waitFor<IngestionStatus>('/status', finished)).status, 'success');
      // The counters are written just after the status, so poll until the run shows.
      const scrape = async () => (await fetch(`${svc.url}/metrics`)).text();
      let metrics = await scrape();
      for (let tries = 0; tries < 100 && !/^ingestion_runs_total\{outcome="success"\} [1-9]/m.test(metrics); tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        metrics = await scrape();
      }
      assert.match(metrics, /^ingestion_runs_total\{outcome="success"\} 1$/m);
      assert.match(metrics, /^ingestion_runs_total\{outcome="failed"\} 0$/m, 'both outcomes are there from the start');
      assert.match(metrics, /^ingestion_upstream_retries_total\{reason="status 503"\} 1$/m);
    });

    it('when the upstream answers 429 with Retry-After: 1, then the next attempt waits about a second', async () => {
      const { upstream, svc } = await scenario([{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      const [first, second] = upstream.requests as [number, number];
      assert.ok(second - first >= 900, `waited ${second - first} ms`);
    });

    it('when the upstream answers 404, then the run fails at once without retrying', async () => {
      const { upstream, svc } = await scenario([{ kind: 'status', status: 404 }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.equal(status.last_error, 'upstream answered HTTP 404');
      assert.equal(upstream.requests.length, 1);
    });

    it('when retries are spent on 503s, then the run fails after RETRY_COUNT + 1 attempts', async () => {
      const always503 = Array.from({ length: 5 }, () => ({ kind: 'status', status: 503 }) as const);
      const { upstream, svc } = await scenario(always503, { RETRY_COUNT: '2' });
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.equal(upstream.requests.length, 3);
    });

    it('when the connection is cut in the middle of the body, then the attempt is retried and nothing half-written stays', async () => {
      const { upstream, svc } = await scenario([{ kind: 'truncated' }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 30);
      assert.equal(upstream.requests.length, 2);
      assert.equal((await svc.get<{ count: number }>('/posts?limit=100')).body.count, 30);
    });

    it('when a later response is invalid JSON, then that run fails and the last good data and status stay', async () => {
      // The later run is asked for, not scheduled: a scheduled one could succeed before the bad body is queued.
      const { svc } = await scenario([], { API_KEYS: 'e2e-key-0123456789abcdef' });
      const good = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      upstream?.enqueue({ kind: 'raw', body: '[{"userId":1,"id":1,"title":"a","body":"b"}, {oops' });
      assert.equal((await svc.post('/ingest')).status, 202);
      const failed = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'failed');
      assert.match(failed.last_error ?? '', /not a JSON array/);
      assert.equal(failed.last_successful_run, good.last_successful_run);
      assert.equal(failed.records_ingested, 30);
      assert.equal((await svc.get<{ count: number }>('/posts?limit=100')).body.count, 30);
      assert.equal((await svc.get<{ title: string }>('/posts/1')).body.title, 'title 1');
      await svc.waitForLogs((l) => typeof l.msg === 'string' && l.msg.startsWith('run failed'), 1);
      const text = svc.logs.map((l) => JSON.stringify(l)).join('\n');
      assert.doesNotMatch(text, /\n\s+at |\/work\/|node_modules/, 'no stack traces or paths in logs');
    });

    it('when the body is not an array, then the run fails with a clear reason', async () => {
      const { svc } = await scenario([{ kind: 'raw', body: '{"posts":[]}' }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.match(status.last_error ?? '', /not a JSON array/);
    });

    it('when some records are invalid, then they are skipped, counted and logged, and the run succeeds', async () => {
      const posts = [...makePosts(5), { id: 'x', userId: 1, title: 't', body: 'b' }, { id: 9, userId: 1, title: 7, body: 'b' }, null, { id: 10, userId: 0, title: 't', body: 'b' }];
      const { svc } = await scenario([], {}, posts);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 5);
      assert.equal(status.records_rejected, 4);
      const reasons = (await svc.waitForLogs((l) => l.msg === 'record rejected', 4)).map((l) => String(l.reason));
      assert.equal(reasons.length, 4);
      assert.match(reasons[0] ?? '', /^id must be an integer/);
      assert.match(reasons[1] ?? '', /^title must be a string/);
      const [run] = (await svc.get<Runs>('/runs')).body.runs;
      assert.equal(run?.records_rejected, 4);
    });

    it('when a record holds bytes that are not UTF-8, then it alone is rejected saying so, and a byte order mark before the array is read past', async () => {
      const latin1 = Buffer.from('{"id":2,"userId":1,"title":"caf\u00e9","body":"b"}', 'latin1');
      const body = Buffer.concat([Buffer.from('\uFEFF[{"id":1,"userId":1,"title":"caf\u00e9","body":"b"},'), latin1, Buffer.from(',{"id":3,"userId":1,"title":"t","body":"b"}]')]);
      const { svc } = await scenario([{ kind: 'raw', body }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 2);
      assert.equal(status.records_rejected, 1);
      const [rejection] = await svc.waitForLogs((l) => l.msg === 'record rejected', 1);
      assert.equal(rejection?.index, 1);
      assert.match(String(rejection?.reason), /^record holds bytes that are not UTF-8/);
      assert.equal((await svc.get<{ title: string }>('/posts/1')).body.title, 'caf\u00e9');
      assert.equal((await svc.get('/posts/2')).status, 404);
    });

    it('when a record is longer than MAX_RECORD_BYTES, then it alone is rejected with its size, and the others are stored', async () => {
      const huge = { id: 3, userId: 1, title: 'huge', body: 'x'.repeat(3 * 1024 * 1024) };
      const posts = [...makePosts(2), huge, ...makePosts(2, 4)];
      const { svc } = await scenario([], { MAX_RECORD_BYTES: '1MiB' }, posts);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 4);
      assert.equal(status.records_rejected, 1);
      const [reason] = (await svc.waitForLogs((l) => l.msg === 'record rejected', 1)).map((l) => String(l.reason));
      assert.equal(reason, `record is ${Buffer.byteLength(JSON.stringify(huge))} bytes of JSON, more than MAX_RECORD_BYTES (1048576)`);
      assert.equal((await svc.get('/posts/3')).status, 404);
      assert.equal((await svc.get('/posts/5')).status, 200);
    });

    it('when the upstream compresses its answer (gzip, deflate as zlib or bare, br), then the run decompresses it and succeeds', async () => {
      for (const encoding of ['gzip', 'deflate', 'deflate-raw', 'br'] as const) {
        const { upstream, svc } = await scenario([{ kind: 'compressed', encoding }]);
        const status = await svc.waitFor<IngestionStatus>('/status', finished);
        assert.equal(status.status, 'success', encoding);
        assert.equal(status.records_ingested, 30, encoding);
        assert.equal(upstream.headers[0]?.['accept-encoding'], 'gzip, deflate, br');
        await svc.stop('SIGKILL');
        await upstream.close();
      }
    });

    it('when the compressed body is corrupt, then the run fails as invalid, naming the decompression, without retrying', async () => {
      const { upstream, svc } = await scenario([{ kind: 'compressed', encoding: 'gzip', corrupt: true }]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.match(status.last_error ?? '', /compressed body does not decompress \(Z_/);
      assert.equal(upstream.requests.length, 1);
    });

    it('when the body grows past MAX_RESPONSE_BYTES, then the run fails and the process lives on', async () => {
      const { svc } = await scenario([{ kind: 'huge', bytes: 5_000_000 }], { MAX_RESPONSE_BYTES: '64KiB' });
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.match(status.last_error ?? '', /MAX_RESPONSE_BYTES/);
      assert.equal((await svc.get('/health')).status, 200);
    });

    it('when the upstream never answers, then each attempt ends after API_TIMEOUT and the run fails', async () => {
      const { upstream, svc } = await scenario([{ kind: 'stall' }, { kind: 'stall' }], { API_TIMEOUT: '1s', RETRY_COUNT: '1' });
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'failed');
      assert.match(status.last_error ?? '', /API_TIMEOUT/);
      assert.equal(upstream.requests.length, 2);
    });

    it('when the body stalls halfway, then the attempt times out and the retry succeeds', async () => {
      const { svc } = await scenario([{ kind: 'stall-body' }], { API_TIMEOUT: '1s' });
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 30);
    });

    it('when SIGTERM arrives during a slow fetch, then the run is recorded as interrupted and the process exits 0', async () => {
      const first = await scenario([{ kind: 'stall' }], { API_TIMEOUT: '60s', SHUTDOWN_TIMEOUT: '5s' });
      const { tableName, upstream } = first;
      await first.svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'running');
      await firstRequest(upstream);
      const stoppedAt = Date.now();
      assert.equal(await first.svc.stop('SIGTERM'), 0);
      assert.ok(Date.now() - stoppedAt < 4000, 'shutdown cancels the fetch instead of waiting for it');

      const restarted = await startService({ ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url });
      svc = restarted;
      const { runs } = await restarted.waitFor<Runs>('/runs', (r) => r.runs.some((run) => run.status === 'success'));
      const interrupted = runs.find((run) => run.status === 'failed');
      assert.equal(interrupted?.error, 'interrupted by shutdown');
      assert.equal(runs.filter((run) => run.status === 'running').length, 0);
    });

    it('when the process is killed in the middle of a run and restarts as the same replica, then it records that run as failed and runs again at once', async () => {
      // The same REPLICA_ID, as a container restarted in its pod has: it takes its own lease back at once.
      const first = await scenario([{ kind: 'stall' }], { API_TIMEOUT: '60s', REPLICA_ID: 'pod-a' });
      const { tableName, upstream } = first;
      await first.svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'running');
      // Killed once the stalled request is in: killed before it, the restarted process would get the stall.
      await firstRequest(upstream);
      await first.svc.stop('SIGKILL');
      const restarted = await startService({ ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url, REPLICA_ID: 'pod-a' });
      svc = restarted;
      const { runs } = await restarted.waitFor<Runs>('/runs', (r) => r.runs.some((run) => run.status === 'success'));
      assert.match(runs.find((run) => run.status === 'failed')?.error ?? '', /interrupted/);
    });

    it('when the endpoint moved (301, then 302), then the run follows the redirects and succeeds', async () => {
      const { upstream, svc } = await scenario([
        { kind: 'status', status: 301, headers: { location: '/moved' } },
        { kind: 'status', status: 302, headers: { location: '/posts?page=all' } },
      ]);
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.equal(status.records_ingested, 30);
      assert.equal(upstream.requests.length, 3);
    });

    it('when the upstream redirects in a loop, or past the redirects followed, then the run fails at once saying so, not as a network error', async () => {
      const loop = await scenario([{ kind: 'status', status: 302, headers: { location: '/posts' } }]);
      const looped = await loop.svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(looped.status, 'failed');
      assert.match(looped.last_error ?? '', /redirects in a loop/);
      assert.equal(loop.upstream.requests.length, 1, 'not retried');
      await loop.svc.stop();
      await loop.upstream.close();

      const chain = Array.from({ length: 6 }, (_, i) => ({ kind: 'status' as const, status: 302, headers: { location: `/hop-${i + 1}` } }));
      const far = await scenario(chain);
      const farStatus = await far.svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(farStatus.status, 'failed');
      assert.equal(farStatus.last_error, 'upstream answered HTTP 302 (a redirect, after the 5 followed)');
      assert.equal(far.upstream.requests.length, 6, 'the first request and five redirects, not retried');
    });

    it('when API_ENDPOINT carries user:password@, then the upstream gets them as Basic auth and no log line shows them', async () => {
      upstream = await startFakeUpstream(makePosts(5));
      const url = new URL(upstream.url);
      url.username = 'reader';
      url.password = 's3cr3t:p@ss';
      svc = await startService({ ...harness.serviceEnv(uniqueTableName()), API_ENDPOINT: url.href, LOG_LEVEL: 'debug' });
      const status = await svc.waitFor<IngestionStatus>('/status', finished);
      assert.equal(status.status, 'success');
      assert.deepEqual(upstream.headers.map((headers) => headers.authorization), [`Basic ${Buffer.from('reader:s3cr3t:p@ss').toString('base64')}`]);
      assert.ok(!JSON.stringify(svc.logs).includes('s3cr3t'), 'the password is in no log line');
    });

    it('when the configuration is wrong, then the process exits non-zero with one line naming the variable', async () => {
      const { spawnSync } = await import('node:child_process');
      const result = spawnSync(process.execPath, ['dist/main.js'], { env: { PATH: process.env.PATH, RETRY_COUNT: '-2' }, encoding: 'utf8' });
      assert.notEqual(result.status, 0);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /RETRY_COUNT="-2".*integer from 0 to 100/);
    });
  });
}
