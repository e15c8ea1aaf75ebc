import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IngestionStatus, Run } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName, type BackendHarness } from '../support/backends.js';
import { makePosts, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

const INTERVAL_MS = 2000;
const LEASE_TTL_MS = 2000;
/** Room for the wake-up jitter, a lease request and a busy machine; the assertion is about the lease period. */
const SLACK_MS = 1500;

type Runs = { runs: Run[] };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Several replicas of the built service on one PostgreSQL database, as a Deployment with replicas: 3 runs them. */
const backend = selectedBackends().find((b) => b.name === 'postgresql');
if (backend) {
  describe('three replicas on one PostgreSQL database', () => {
    let harness: BackendHarness;
    let upstream: FakeUpstream;
    let replicas: ServiceProcess[] = [];
    const POSTS = 60;

    before(async () => {
      harness = await backend.start();
      upstream = await startFakeUpstream(makePosts(POSTS));
      const tableName = uniqueTableName('replicas');
      const env = { ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url, INGESTION_INTERVAL: `${INTERVAL_MS}ms`, LEASE_TTL: `${LEASE_TTL_MS}ms` };
      replicas = await Promise.all(['replica-1', 'replica-2', 'replica-3'].map((id) => startService({ ...env, REPLICA_ID: id })));
    });
    after(async () => {
      await Promise.allSettled(replicas.map((r) => r.stop('SIGKILL')));
      await upstream?.close();
      await harness?.stop();
    });

    it('when they run for several intervals, then each interval has exactly one run, every replica serves all records', async () => {
      const first = replicas[0] as ServiceProcess;
      await sleep(3.5 * INTERVAL_MS);
      const runs = (await first.get<Runs>('/runs?limit=100')).body.runs.filter((run) => run.status !== 'running').reverse();
      assert.ok(runs.length >= 3, `expected at least 3 runs in 3.5 intervals, got ${runs.length}`);
      assert.ok(runs.every((run) => run.status === 'success'), JSON.stringify(runs));
      for (let i = 1; i < runs.length; i++) {
        const gap = Date.parse(runs[i]?.started_at ?? '') - Date.parse(runs[i - 1]?.started_at ?? '');
        // The next run may start only once the interval since the last start has passed, on any replica.
        assert.ok(gap >= INTERVAL_MS - 50, `runs ${i - 1} and ${i} started ${gap} ms apart`);
        assert.ok(gap < 2 * INTERVAL_MS, `no interval was skipped: runs ${i - 1} and ${i} started ${gap} ms apart`);
      }
      const fetches = upstream.requests.length;
      const allRuns = (await first.get<Runs>('/runs?limit=100')).body.runs.length;
      assert.ok(fetches === allRuns || fetches === allRuns - 1, `one upstream fetch per run: ${fetches} fetches, ${allRuns} runs`);
      for (const replica of replicas) {
        const page = (await replica.get<{ count: number }>('/posts?limit=1000')).body;
        assert.equal(page.count, POSTS);
      }
    });

    it('when the replica holding the lease is killed mid-run, then another takes the next run within one lease period', async () => {
      // The next fetch never gets an answer: the run that makes it holds the lease until its replica dies.
      const fetchesBefore = upstream.requests.length;
      upstream.enqueue({ kind: 'stall' });
      const observer = replicas[0] as ServiceProcess;
      const stalled = await observer.waitFor<IngestionStatus>('/status', (s) => s.status === 'running' && upstream.requests.length > fetchesBefore, 10_000);
      const holderId = stalled.last_run_replica;
      const holder = replicas.find((_, i) => `replica-${i + 1}` === holderId);
      assert.ok(holder, `the holder ${holderId} is one of the replicas`);
      await sleep(200);
      const killedAt = Date.now();
      await holder.stop('SIGKILL');
      const survivor = replicas.find((r) => r !== holder) as ServiceProcess;

      const { runs } = await survivor.waitFor<Runs>('/runs?limit=100', (body) =>
        body.runs.some((run) => run.status === 'success' && Date.parse(run.started_at) > killedAt),
        15_000,
      );
      const takeover = runs.find((run) => run.status === 'success' && Date.parse(run.started_at) > killedAt) as Run;
      assert.notEqual(takeover.replica, holderId);
      const delay = Date.parse(takeover.started_at) - killedAt;
      assert.ok(delay <= LEASE_TTL_MS + SLACK_MS, `the next run started ${delay} ms after the kill`);
      const killed = runs.find((run) => run.replica === holderId && Date.parse(run.started_at) < killedAt && run.status !== 'success');
      assert.equal(killed?.status, 'failed');
      assert.match(killed?.error ?? '', /interrupted/);
      assert.equal((await survivor.get<{ count: number }>('/posts?limit=1000')).body.count, POSTS);
    });
  });

  describe('a replica that stalls past LEASE_TTL on PostgreSQL', () => {
    let harness: BackendHarness;
    let upstream: FakeUpstream;
    let replicas: ServiceProcess[] = [];
    const POSTS = 200;
    const titled = (version: string) => makePosts(POSTS).map((post) => ({ ...post, title: `${version} ${String(post.id)}` }));

    before(async () => {
      harness = await backend.start();
      upstream = await startFakeUpstream(titled('v1'));
      const tableName = uniqueTableName('stall');
      // Runs only when asked for, so the test decides which replica runs which.
      const env = { ...harness.serviceEnv(tableName), API_ENDPOINT: upstream.url, INGESTION_INTERVAL: '1h', LEASE_TTL: `${LEASE_TTL_MS}ms`, API_KEYS: 'replica-test-key-0123456789' };
      replicas = await Promise.all(['stalled', 'successor'].map((id) => startService({ ...env, REPLICA_ID: id })));
    });
    after(async () => {
      for (const replica of replicas) replica.child.kill('SIGCONT');
      await Promise.allSettled(replicas.map((r) => r.stop('SIGKILL')));
      await upstream?.close();
      await harness?.stop();
    });

    it('when it resumes after another replica ran over newer data, then its older records do not replace the newer ones, and its run is failed and counted once', async () => {
      const [stalled, successor] = replicas as [ServiceProcess, ServiceProcess];
      // Both replicas ran at start: wait for those runs to end, so that the next is the test's.
      await successor.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      await sleep(LEASE_TTL_MS);
      let release: () => void = () => undefined;
      upstream.enqueue({ kind: 'held', until: new Promise<void>((resolve) => (release = resolve)) });
      const fetchesBefore = upstream.requests.length;
      assert.equal((await stalled.post('/ingest')).status, 202);
      await until(() => upstream.requests.length > fetchesBefore, 'the stalled replica\'s fetch');
      // Its records are parsed and staged; then it stops, and the end of the body waits in its socket.
      await sleep(300);
      stalled.child.kill('SIGSTOP');
      release();
      await sleep(LEASE_TTL_MS + SLACK_MS);

      upstream.setPosts(titled('v2'));
      const ticket = await successor.post<{ run_id: string }>('/ingest');
      assert.equal(ticket.status, 202, JSON.stringify(ticket.body));
      await successor.waitFor<Runs>('/runs?limit=5', (body) => body.runs.some((run) => run.run_id === ticket.body.run_id && run.status === 'success'));
      const runEnded = (line: Record<string, unknown>) => typeof line.msg === 'string' && /^run (succeeded|failed)/.test(line.msg);
      const endedBefore = stalled.logs.filter(runEnded).length;
      stalled.child.kill('SIGCONT');
      await stalled.waitForLogs(runEnded, endedBefore + 1, 15_000);

      const posts = (await successor.get<{ posts: Array<{ title: string }> }>('/posts?limit=1000')).body.posts;
      assert.equal(posts.length, POSTS);
      assert.deepEqual(posts.filter((post) => !post.title.startsWith('v2 ')), [], 'records the stalled run fetched earlier replaced newer ones');
      const status = (await successor.get<IngestionStatus>('/status')).body;
      assert.equal(status.status, 'success');
      // The stalled replica logs its run's end, then records it: until then the run shows the recovery's cause.
      const isStalledRun = (run: Run) => run.replica === 'stalled' && run.run_id !== ticket.body.run_id && run.status !== 'success';
      const { runs } = await successor.waitFor<Runs>('/runs?limit=5', (body) => body.runs.some((run) => isStalledRun(run) && /took over/.test(run.error ?? '')), 10_000).catch(
        async () => (await successor.get<Runs>('/runs?limit=5')).body,
      );
      const stalledRun = runs.find(isStalledRun);
      assert.equal(stalledRun?.status, 'failed', JSON.stringify(runs));
      assert.match(stalledRun?.error ?? '', /took over/);
      // Counted failed once, by the replica that took over (its recovery marked the run failed).
      const failedCounts = await Promise.all(replicas.map(async (replica) => failedRunsCounted(await (await fetch(`${replica.url}/metrics`)).text())));
      assert.deepEqual(failedCounts, [0, 1]);
    });
  });
}

/** `ingestion_runs_total{outcome="failed"}` in a Prometheus text exposition. */
function failedRunsCounted(exposition: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith('ingestion_runs_total{') && l.includes('outcome="failed"'));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
