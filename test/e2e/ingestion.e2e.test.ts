import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IngestionStatus, Post, Run } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName, type BackendHarness } from '../support/backends.js';
import { makePosts, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

interface PostsPage {
  posts: Post[];
  count: number;
  limit: number;
  offset: number;
  next_after: number | null;
}

const successes = (n: number) => (runs: { runs: Run[] }) => runs.runs.filter((r) => r.status === 'success').length >= n;

/** The core behaviours of the built service, end to end, against every store. */
for (const backend of selectedBackends()) {
  describe(`service end to end on ${backend.name}`, () => {
    let harness: BackendHarness;
    let upstream: FakeUpstream;
    const services: ServiceProcess[] = [];

    before(async () => {
      harness = await backend.start();
      upstream = await startFakeUpstream();
    });
    // Services of one test must not consume the upstream behaviours queued by the next.
    afterEach(async () => {
      await Promise.allSettled(services.splice(0).map((s) => s.stop('SIGKILL')));
    });
    after(async () => {
      await upstream?.close();
      await harness?.stop();
    });

    async function service(tableName: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
      const started = await startService({ ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url, SOURCE_NAME: 'fake_api', ...env });
      services.push(started);
      return started;
    }

    it('when SIGTERM comes while a client is still sending its request, then the service cuts it after the drain and exits 0 within SHUTDOWN_TIMEOUT', { skip: backend.name !== 'sqlite' && 'the same on every store' }, async () => {
      const svc = await service(uniqueTableName(), { SHUTDOWN_TIMEOUT: '4s' });
      await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      // Headers sent part way, as a slow or stalled client leaves them: the server cannot close while it waits.
      const { port } = new URL(svc.url);
      const slow = connect(Number(port), '127.0.0.1');
      slow.on('error', () => undefined);
      await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
      slow.write('GET /posts HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const signalled = Date.now();
      const code = await svc.stop('SIGTERM');
      const tookMs = Date.now() - signalled;
      slow.destroy();
      assert.equal(code, 0, `exits 0, not by the forced exit; stderr: ${svc.stderr.join(' | ')}`);
      assert.ok(tookMs < 4_000, `exited after ${tookMs} ms, within SHUTDOWN_TIMEOUT`);
      assert.ok(svc.logs.some((line) => line.msg === 'stopped'));
    });

    it('when the service starts, then it ingests at once and serves posts, status and runs', async () => {
      upstream.setPosts(makePosts(100));
      const svc = await service(uniqueTableName());
      const status = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      assert.equal(status.records_ingested, 100);
      assert.equal(status.records_rejected, 0);
      assert.equal(status.last_error, null);
      assert.equal(status.last_successful_run, status.last_attempt);
      assert.equal(typeof status.last_duration_ms, 'number');

      const page = (await svc.get<PostsPage>('/posts')).body;
      assert.deepEqual(page.posts.map((p) => p.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual({ count: page.count, limit: page.limit, offset: page.offset, next_after: page.next_after }, { count: 10, limit: 10, offset: 0, next_after: 10 });
      const last = (await svc.get<PostsPage>('/posts?limit=30&offset=90')).body;
      assert.deepEqual(last.posts.map((p) => p.id), [91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
      assert.equal(last.next_after, null);
      const keyset = (await svc.get<PostsPage>('/posts?after=95&limit=3')).body;
      assert.deepEqual(keyset.posts.map((p) => p.id), [96, 97, 98]);

      const one = await svc.get<Post>('/posts/42');
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, { userId: 3, id: 42, title: 'title 42', body: 'body 42\nwith a second line', ingested_at: status.last_successful_run, source: 'fake_api' });
      assert.equal((await svc.get('/posts/1000')).status, 404);

      const runs = (await svc.get<{ runs: Run[]; count: number }>('/runs')).body;
      assert.equal(runs.count, 1);
      assert.equal(runs.runs[0]?.status, 'success');
      assert.equal(runs.runs[0]?.records_ingested, 100);
      assert.equal((await svc.get('/health')).status, 200);
    });

    it('when the upstream changes a record between runs, then only that record is updated and nothing is duplicated', async () => {
      const posts = makePosts(50);
      upstream.setPosts(posts);
      const svc = await service(uniqueTableName(), { INGESTION_INTERVAL: '300ms' });
      await svc.waitFor('/runs', successes(1));
      const first = (await svc.get<Post>('/posts/7')).body;
      upstream.setPosts(posts.map((p) => (p.id === 7 ? { ...p, title: 'edited upstream' } : p)));
      const afterChange = await svc.waitFor<Post>('/posts/7', (p) => p.title === 'edited upstream');
      assert.notEqual(afterChange.ingested_at, first.ingested_at);
      await svc.waitFor('/runs', successes(4));
      const untouched = (await svc.get<Post>('/posts/8')).body;
      assert.equal(untouched.ingested_at, first.ingested_at, 'an unchanged record keeps the ingested_at of the run that wrote it');
      const all = (await svc.get<PostsPage>('/posts?limit=1000')).body;
      assert.equal(all.count, 50);
      const status = (await svc.get<IngestionStatus>('/status')).body;
      assert.equal(status.records_ingested, 50);
    });

    it('when the service restarts, then data, status and history are kept, no run is added before the schedule says, and POST /ingest adds one', async () => {
      const tableName = uniqueTableName();
      upstream.setPosts(makePosts(20));
      const first = await service(tableName);
      const before = await first.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      assert.equal(await first.stop(), 0);

      upstream.enqueue({ kind: 'status', status: 404 });
      const requestsBefore = upstream.requests.length;
      const second = await service(tableName, { RETRY_COUNT: '0', API_KEYS: 'e2e-key-0123456789abcdef' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(upstream.requests.length, requestsBefore, 'the next run is due an INGESTION_INTERVAL after the last one started');
      const accepted = await second.post<{ run_id: string }>('/ingest');
      assert.equal(accepted.status, 202);
      const failed = await second.waitFor<IngestionStatus>('/status', (s) => s.status === 'failed');
      assert.equal(failed.last_successful_run, before.last_successful_run);
      assert.equal(failed.records_ingested, 20);
      assert.match(failed.last_error ?? '', /HTTP 404/);
      assert.equal((await second.get<PostsPage>('/posts?limit=100')).body.count, 20);
      const runs = (await second.get<{ runs: Run[] }>('/runs')).body.runs;
      assert.deepEqual(runs.map((r) => r.status), ['failed', 'success']);
      assert.equal(runs[0]?.run_id, accepted.body.run_id);
    });
  });
}
