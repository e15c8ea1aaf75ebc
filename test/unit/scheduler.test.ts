import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { RunInProgressError, RunInterruptedError, StoreUnavailableError } from '../../src/errors.js';
import { IngestionScheduler } from '../../src/ingest/scheduler.js';
import { createMetrics } from '../../src/metrics.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { RUN_HISTORY_LIMIT, type Store } from '../../src/stores/store.js';

const logger = pino({ level: 'silent' });
const HOUR = 3_600_000;

let tempDir: string;
let dbCount = 0;
const running: IngestionScheduler[] = [];
const stores: Store[] = [];

before(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'scheduler-test-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((scheduler) => scheduler.stop()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
after(() => rmSync(tempDir, { recursive: true, force: true }));

/** A fresh database file, and a way to open it again as another replica would. */
function database(): (() => Promise<Store>) & { path: string } {
  const path = join(tempDir, `${++dbCount}.db`);
  return Object.assign(async () => {
    const store = new SqliteStore({ path, tableName: 'ingested_data', source: 'test', batchSize: 100, runHistoryLimit: RUN_HISTORY_LIMIT });
    await store.init();
    stores.push(store);
    return store;
  }, { path });
}

/**
 * A replica's scheduler whose runs are recorded in the store (begin, then commit when released, or abort when
 * cancelled) and wait until the test releases them.
 */
function replica(store: Store, name: string, options: { intervalMs?: number; leaseTtlMs?: number; runTimeoutMs?: number } = {}) {
  const runs: string[] = [];
  let release: (() => void) | undefined;
  let started: (() => void) | undefined;
  let startedPromise = new Promise<void>((resolve) => (started = resolve));
  const scheduler = new IngestionScheduler({
    intervalMs: options.intervalMs ?? HOUR,
    leaseTtlMs: options.leaseTtlMs ?? 30_000,
    runTimeoutMs: options.runTimeoutMs,
    replica: name,
    store,
    logger,
    runOnce: async ({ runId, signal, onBegun }) => {
      runs.push(runId);
      const writer = await store.beginRun({ runId, startedAt: new Date().toISOString(), replica: name });
      onBegun?.();
      started?.();
      const finished = await new Promise<'released' | 'cancelled'>((resolve) => {
        release = () => resolve('released');
        // stop() may have aborted while the run began: an abort that already happened fires no event.
        if (signal.aborted) resolve('cancelled');
        signal.addEventListener('abort', () => resolve('cancelled'), { once: true });
      });
      const finishedAt = new Date().toISOString();
      if (finished === 'released') await writer.commit({ finishedAt: () => finishedAt, recordsIngested: 0, recordsRejected: 0 });
      else await writer.abort({ finishedAt, error: String((signal.reason as Error).message), recordsRejected: 0 });
    },
  });
  running.push(scheduler);
  return {
    scheduler,
    runs,
    /** Resolves when the next run has begun. */
    nextRunStarted: () => startedPromise,
    /**
     * Releases the run and waits for it to end, lease released. A run that outlasted its interval is followed
     * at once by the next: its start also means the released run has ended.
     */
    finishRun: async () => {
      const runsBefore = runs.length;
      startedPromise = new Promise<void>((resolve) => (started = resolve));
      release?.();
      while (scheduler.running && runs.length === runsBefore) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}

const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What a holder killed mid-run leaves: its lease, held for `leaseMs` more, and its run `dead-run` running.
 * With `notDue`, the run it was running started the schedule's interval now, so no replica's run is due.
 */
/** A dead holder's lease: long enough that the checks made before it lapses keep their margin on a loaded machine. */
const DEAD_LEASE_MS = 1500;

async function diedMidRun(store: Store, owner: string, leaseMs: number, { notDue = false } = {}): Promise<void> {
  const now = Date.now();
  const lease = { owner, now: new Date(now).toISOString(), expiresAt: new Date(now + leaseMs).toISOString() };
  await store.acquireLease(lease);
  if (notDue) {
    await store.releaseLease(owner, lease.now);
    await store.acquireLease(lease);
  }
  await store.beginRun({ runId: 'dead-run', startedAt: lease.now, replica: owner });
}

async function untilIdle(scheduler: IngestionScheduler): Promise<void> {
  const deadline = Date.now() + 5000;
  while (scheduler.running && Date.now() < deadline) await settle(20);
}

async function untilNotRunning(store: Store): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await store.getStatus()).status === 'running' && Date.now() < deadline) await settle(20);
}

describe('IngestionScheduler with the run lease', () => {
  it('when two replicas share a store, then one runs and the other is told who holds the run', async () => {
    const open = database();
    const a = replica(await open(), 'replica-a');
    const b = replica(await open(), 'replica-b');
    a.scheduler.start();
    await a.nextRunStarted();
    b.scheduler.start();
    await settle();
    assert.equal(b.runs.length, 0);
    await assert.rejects(b.scheduler.trigger(), (error: unknown) => error instanceof RunInProgressError && /replica-a/.test(error.message));
    await assert.rejects(a.scheduler.trigger(), (error: unknown) => error instanceof RunInProgressError);
    await a.finishRun();
    const { runId, replica: runner } = await b.scheduler.trigger();
    assert.equal(runner, 'replica-b');
    await b.nextRunStarted();
    assert.deepEqual(b.runs, [runId]);
    await b.finishRun();
  });

  it('when a run ended, then no replica runs again before the interval, even one started afterwards', async () => {
    const open = database();
    const a = replica(await open(), 'replica-a');
    a.scheduler.start();
    await a.nextRunStarted();
    await a.finishRun();
    const b = replica(await open(), 'replica-b');
    b.scheduler.start();
    await settle();
    assert.equal(a.runs.length + b.runs.length, 1);
  });

  it('when the interval passes, then the next run starts, on whichever replica asks first', async () => {
    const open = database();
    const a = replica(await open(), 'replica-a', { intervalMs: 400 });
    const b = replica(await open(), 'replica-b', { intervalMs: 400 });
    a.scheduler.start();
    await a.nextRunStarted();
    b.scheduler.start();
    await a.finishRun();
    const deadline = Date.now() + 10_000;
    while (a.runs.length + b.runs.length < 2 && Date.now() < deadline) await settle(20);
    assert.equal(a.runs.length + b.runs.length, 2);
  });

  it('when the holder died mid-run, then another replica takes over once the lease lapses and records the dead run as failed', async () => {
    const open = database();
    const store = await open();
    // Opened before the clock starts: the lease below must still be held when replica-b first asks.
    const other = await open();
    await diedMidRun(store, 'dead', DEAD_LEASE_MS);
    const b = replica(other, 'replica-b');
    b.scheduler.start();
    await settle(100);
    assert.equal(b.runs.length, 0, 'the lease has not lapsed yet');
    await b.nextRunStarted();
    const runs = await store.listRuns(10);
    assert.equal(runs.find((run) => run.run_id === 'dead-run')?.status, 'failed');
    assert.equal((await store.getStatus()).last_run_replica, 'replica-b');
    await b.finishRun();
  });

  it('when the holder died mid-run and the next run is not due, then a replica marks the dead run failed once the lease lapses, and runs nothing', async () => {
    const open = database();
    const store = await open();
    const other = await open();
    await diedMidRun(store, 'dead', DEAD_LEASE_MS, { notDue: true });
    const b = replica(other, 'replica-b');
    b.scheduler.start();
    await settle(100);
    assert.equal((await store.getStatus()).status, 'running', 'the lease has not lapsed yet');
    await untilNotRunning(store);
    const status = await store.getStatus();
    assert.equal(status.status, 'failed');
    assert.match(status.last_error ?? '', /interrupted/);
    assert.equal((await store.listRuns(10)).find((run) => run.run_id === 'dead-run')?.status, 'failed');
    assert.equal(b.runs.length, 0, 'the schedule was not due');
    // The lease goes back free, the schedule unchanged: a replica asking for a due run is still refused.
    // replica-b lets the lease go just after it records the dead run, so the status can show that first.
    const askAsReplicaC = () => store.acquireLease({ owner: 'replica-c', now: new Date().toISOString(), expiresAt: new Date(Date.now() + 500).toISOString(), dueIfStartedBy: new Date(Date.now() - HOUR).toISOString() });
    let asked = await askAsReplicaC();
    for (const deadline = Date.now() + 5000; asked.lease.owner === 'replica-b' && Date.now() < deadline; asked = await askAsReplicaC()) await settle(20);
    assert.equal(asked.acquired, false);
    assert.equal(asked.lease.owner, null);
  });

  it('when a run asked for by POST /ingest dies while the others sleep until the next due run, then one still marks it failed soon after the lease lapses', async () => {
    const open = database();
    const store = await open();
    // A run just ended: the lease is free and the next run an hour away.
    const ended = new Date().toISOString();
    await store.acquireLease({ owner: 'earlier', now: ended, expiresAt: new Date(Date.now() + 1000).toISOString() });
    await store.releaseLease('earlier', ended);
    const b = replica(await open(), 'replica-b', { leaseTtlMs: 1000 });
    b.scheduler.start();
    await settle(200);
    // Another replica takes the lease for a manual run, and dies in it.
    await diedMidRun(store, 'dead', DEAD_LEASE_MS);
    await untilNotRunning(store);
    const status = await store.getStatus();
    assert.equal(status.status, 'failed', 'marked within about two leases, not an hour later');
    assert.equal(b.runs.length, 0, 'the schedule was not due');
  });

  it('when the holder restarts under the same replica id and the next run is not due, then it marks its own dead run failed at once', async () => {
    const open = database();
    const store = await open();
    await diedMidRun(store, 'pod-a', HOUR, { notDue: true });
    const restarted = replica(await open(), 'pod-a');
    restarted.scheduler.start();
    await untilNotRunning(store);
    assert.equal((await store.getStatus()).status, 'failed');
    assert.equal(restarted.runs.length, 0);
  });

  it('when the shutdown\'s cancel reaches a run that has already committed, then the run keeps its place in the schedule', async () => {
    const store = await database()();
    let committed: () => void = () => undefined;
    const runCommitted = new Promise<void>((resolve) => (committed = resolve));
    const scheduler = new IngestionScheduler({
      intervalMs: HOUR,
      leaseTtlMs: 30_000,
      replica: 'replica-a',
      store,
      logger,
      runOnce: async ({ runId, startedAt, signal, onBegun }) => {
        const writer = await store.beginRun({ runId, startedAt: startedAt.toISOString(), replica: 'replica-a' });
        onBegun?.();
        await writer.commit({ finishedAt: () => new Date().toISOString(), recordsIngested: 0, recordsRejected: 0 });
        committed();
        // The cancel comes after the commit, while the run is still returning (its log line, its metrics).
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { status: 'success' };
      },
    });
    running.push(scheduler);
    scheduler.start();
    await runCommitted;
    await scheduler.stop();

    assert.equal((await store.getStatus()).status, 'success');
    const now = Date.now();
    const asked = await store.acquireLease({ owner: 'replica-b', now: new Date(now).toISOString(), expiresAt: new Date(now + 30_000).toISOString(), dueIfStartedBy: new Date(now - HOUR).toISOString() });
    assert.equal(asked.acquired, false, 'the next run is due an interval after this one started, not at once');
    assert.equal(asked.lease.owner, null);
  });

  it('when a replica stops mid-run, then the run is cancelled, the lease freed and another replica runs it again at once', async () => {
    const open = database();
    const a = replica(await open(), 'replica-a');
    a.scheduler.start();
    await a.nextRunStarted();
    await a.scheduler.stop();
    const store = await open();
    assert.equal((await store.listRuns(1))[0]?.status, 'failed');
    const b = replica(store, 'replica-b');
    b.scheduler.start();
    await b.nextRunStarted();
    assert.equal(b.runs.length, 1);
    await b.finishRun();
  });

  it('when the holder restarts under the same replica id, then it takes its lease back at once', async () => {
    const open = database();
    const store = await open();
    const now = Date.now();
    await store.acquireLease({ owner: 'pod-a', now: new Date(now).toISOString(), expiresAt: new Date(now + HOUR).toISOString() });
    const restarted = replica(await open(), 'pod-a');
    restarted.scheduler.start();
    await restarted.nextRunStarted();
    await restarted.finishRun();
  });

  it('when a run lasts longer than the lease, then the holder keeps renewing it and no other replica takes over', async () => {
    const open = database();
    // Renewed every third of the lease: a stall shorter than two thirds (667 ms) cannot let it lapse.
    const a = replica(await open(), 'replica-a', { leaseTtlMs: 1000 });
    a.scheduler.start();
    await a.nextRunStarted();
    await settle(2500);
    const store = await open();
    const asked = await store.acquireLease({ owner: 'replica-b', now: new Date().toISOString(), expiresAt: new Date(Date.now() + 1000).toISOString() });
    assert.equal(asked.acquired, false);
    assert.equal(asked.lease.owner, 'replica-a');
    await a.finishRun();
  });

  it('when a run outlasts RUN_TIMEOUT, then it is cancelled and recorded failed, and the schedule goes on rather than run it again at once', async () => {
    const open = database();
    const store = await open();
    const a = replica(store, 'replica-a', { runTimeoutMs: 300 });
    a.scheduler.start();
    await a.nextRunStarted();
    await untilIdle(a.scheduler);
    assert.equal(a.scheduler.running, false);
    const [run] = await store.listRuns(1);
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /took longer than RUN_TIMEOUT \(0\.3s\)/);
    await settle(300);
    assert.equal(a.runs.length, 1, 'the next run waits for the interval');
  });

  it('when another replica took the lease from a stalled holder, then the holder stops its run at the next renewal', async () => {
    const open = database();
    const store = await open();
    const a = replica(store, 'replica-a', { leaseTtlMs: 300 });
    a.scheduler.start();
    await a.nextRunStarted();
    // What a takeover after a stall looks like in the table: the lease now names another owner.
    const db = new Database(open.path);
    db.prepare(`UPDATE ingested_data_lease SET owner = 'replica-b'`).run();
    db.close();
    await untilIdle(a.scheduler);
    assert.equal(a.scheduler.running, false);
    const [run] = await store.listRuns(1);
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /another replica took over/);
  });

  it('when POST /ingest starts a run, then trigger() resolves once the store holds the run as running', async () => {
    const store = await database()();
    const a = replica(store, 'replica-a');
    for (let round = 0; round < 5; round++) {
      const { runId } = await a.scheduler.trigger();
      const [latest] = await store.listRuns(1);
      assert.equal(latest?.run_id, runId);
      assert.equal(latest?.status, 'running');
      assert.equal((await store.getStatus()).status, 'running');
      await a.finishRun();
    }
  });

  it('when the store would not record a run as running, then trigger() throws its error, the schedule stays due and the run is asked again after a pause', async () => {
    const store = await database()();
    const beginRun = store.beginRun.bind(store);
    let refusals = 1;
    store.beginRun = (run) => (refusals-- > 0 ? Promise.reject(new StoreUnavailableError('begin run')) : beginRun(run));
    const a = replica(store, 'replica-a', { leaseTtlMs: 300 });
    await assert.rejects(a.scheduler.trigger(), StoreUnavailableError);
    assert.deepEqual(await store.listRuns(10), []);
    // Nothing ran, so the schedule (an hour here) did not move: the next ask, a lease's length later, runs.
    await a.nextRunStarted();
    assert.equal(a.runs.length, 2);
    assert.equal((await store.listRuns(10)).length, 1);
  });

  it('when POST /ingest comes while the last run, already recorded, gives its lease back, then it starts a run rather than answer 409', async () => {
    const store = await database()();
    const releaseLease = store.releaseLease.bind(store);
    let leaseGivenBack: () => void = () => undefined;
    const slowRelease = new Promise<void>((resolve) => (leaseGivenBack = resolve));
    store.releaseLease = async (owner, lastStartedAt) => {
      await slowRelease;
      return releaseLease(owner, lastStartedAt);
    };
    const a = replica(store, 'replica-a');
    await a.scheduler.trigger();
    void a.finishRun();
    await untilNotRunning(store);
    assert.equal(a.scheduler.running, true, 'the run still gives its lease back');
    const triggered = a.scheduler.trigger();
    leaseGivenBack();
    const { runId } = await triggered;
    assert.equal(a.runs.at(-1), runId);
  });

  it('when a replica marks a dead holder\'s run failed, then its metrics count that run as failed', async () => {
    const store = await database()();
    await diedMidRun(store, 'replica-dead', 0);
    const metrics = createMetrics();
    const scheduler = new IngestionScheduler({ intervalMs: HOUR, leaseTtlMs: 30_000, replica: 'replica-a', store, logger, metrics, runOnce: async () => undefined });
    running.push(scheduler);
    scheduler.start();
    await untilNotRunning(store);
    await untilIdle(scheduler);
    assert.equal((await metrics.runs.get()).values.find((v) => v.labels.outcome === 'failed')?.value, 1);
  });

  it('when the service stops while POST /ingest waits on the recovery, then the run does not begin and the trigger says why', async () => {
    const store = await database()();
    const recover = store.recoverInterruptedRuns.bind(store);
    store.recoverInterruptedRuns = async (finishedAt) => {
      await settle(300);
      return recover(finishedAt);
    };
    const a = replica(store, 'replica-a');
    const refused = assert.rejects(a.scheduler.trigger(), RunInterruptedError);
    await settle(50);
    await a.scheduler.stop();
    await refused;
    assert.deepEqual(a.runs, [], 'runOnce was not called');
    assert.deepEqual(await store.listRuns(10), []);
  });
});
