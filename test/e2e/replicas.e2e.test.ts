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
}
