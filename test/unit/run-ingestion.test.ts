import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LeaseLostError, StoreUnavailableError, UpstreamNetworkError, UpstreamStatusError } from '../../src/errors.js';
import { runIngestion, type IngestionDeps } from '../../src/ingest/run-ingestion.js';
import { createMetrics } from '../../src/metrics.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { RUN_HISTORY_LIMIT, type Post, type RunWriter } from '../../src/stores/store.js';
import { at } from '../support/store-fixtures.js';

const SOURCE = 'placeholder_api';
const BATCH = 100;
const GROUP = 25;

let tempDir: string;
before(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'run-ingestion-test-'));
});
after(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

async function openStore(name: string): Promise<SqliteStore> {
  const store = new SqliteStore({ path: join(tempDir, `${name}.db`), tableName: 'ingested_data', source: SOURCE, batchSize: BATCH, runHistoryLimit: RUN_HISTORY_LIMIT });
  await store.init();
  return store;
}

/**
 * The upstream's records in groups, as the parser hands them on, each group in a later turn of the event loop
 * as network chunks arrive; counts how many records were handed on so far.
 */
function source(count: number, title: string) {
  const pulled = { records: 0 };
  async function* fetchRecords(): AsyncIterable<readonly unknown[]> {
    for (let id = 1; id <= count; id += GROUP) {
      const group = Array.from({ length: Math.min(GROUP, count - id + 1) }, (_, i) => ({ userId: 1, id: id + i, title, body: 'b' }));
      await new Promise((resolve) => setImmediate(resolve));
      pulled.records += group.length;
      yield group;
    }
  }
  return { fetchRecords, pulled };
}

/** Puts the test's own code in front of some methods of the store's real run writer. */
function interceptWriter(store: SqliteStore, intercept: (writer: RunWriter) => Partial<RunWriter>): void {
  const begin = store.beginRun.bind(store);
  store.beginRun = async (run) => {
    const writer = await begin(run);
    return {
      writesInFlight: writer.writesInFlight,
      write: (posts) => writer.write(posts),
      discardAttempt: () => writer.discardAttempt(),
      commit: (result) => writer.commit(result),
      abort: (result) => writer.abort(result),
      ...intercept(writer),
    };
  };
}

/**
 * Puts a gate in front of the store's real run writer, which lets `writesInFlight` writes be in flight: each
 * write waits until the test opens it (or fails it), and the test sees how many writes were called and how
 * many were in flight at once.
 */
function gateWrites(store: SqliteStore, writesInFlight: number) {
  const gates: Array<{ open: () => void; fail: (error: Error) => void }> = [];
  const seen = { calls: 0, inFlight: 0, mostInFlight: 0 };
  let called: () => void = () => undefined;
  interceptWriter(store, (writer) => ({
    writesInFlight,
    write: async (posts: readonly Post[]) => {
      seen.calls += 1;
      seen.inFlight += 1;
      seen.mostInFlight = Math.max(seen.mostInFlight, seen.inFlight);
      try {
        await new Promise<void>((resolve, reject) => {
          gates.push({ open: resolve, fail: reject });
          called();
        });
        await writer.write(posts);
      } finally {
        seen.inFlight -= 1;
      }
    },
  }));
  const nextGate = async () => {
    while (gates.length === 0) await new Promise<void>((resolve) => (called = resolve));
    return gates.shift() as (typeof gates)[number];
  };
  return { seen, nextGate };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits until `writesInFlight` writes were called and the batch after them is parsed: the next write must wait. */
async function untilParsedPastWrites(seen: { calls: number }, pulled: { records: number }, writesInFlight: number): Promise<void> {
  await until(() => seen.calls === writesInFlight && pulled.records >= (writesInFlight + 1) * BATCH, 'the batch after those in flight to be parsed');
}

function deps(store: SqliteStore, fetchRecords: IngestionDeps['fetchRecords']): IngestionDeps {
  return { store, fetchRecords, retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1 }, batchSize: BATCH, source: SOURCE, logger: pino({ level: 'silent' }) };
}

describe('runIngestion writes while it parses', () => {
  for (const writesInFlight of [1, 2]) {
    it(`when ${writesInFlight} write(s) may be in flight, then the next batches are parsed meanwhile, but no more are written until the oldest is done`, async () => {
      const store = await openStore(`ahead-${writesInFlight}`);
      const { seen, nextGate } = gateWrites(store, writesInFlight);
      const batches = writesInFlight + 2;
      const { fetchRecords, pulled } = source(batches * BATCH, 'one');
      const outcome = runIngestion(deps(store, fetchRecords), { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });

      const first = await nextGate();
      await untilParsedPastWrites(seen, pulled, writesInFlight);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(seen.calls, writesInFlight, 'the next write waits for the oldest');
      first.open();
      for (let i = 1; i < batches; i++) (await nextGate()).open();

      assert.equal((await outcome).status, 'success');
      assert.equal(seen.calls, batches);
      assert.equal(seen.mostInFlight, writesInFlight);
      assert.equal((await store.listPosts({ limit: 1000, offset: 0 })).length, batches * BATCH);
      await store.close();
    });

    it(`when a write fails while ${writesInFlight} may be in flight, then the run fails on it, writes nothing more, and the last good run stays`, async () => {
      const store = await openStore(`failing-${writesInFlight}`);
      const good = await runIngestion(deps(store, source(BATCH, 'good').fetchRecords), { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });
      assert.equal(good.status, 'success');

      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const { seen, nextGate } = gateWrites(store, writesInFlight);
        const { fetchRecords, pulled } = source((writesInFlight + 2) * BATCH, 'changed');
        const outcome = runIngestion(deps(store, fetchRecords), { runId: 'r2', startedAt: new Date(at(2)), signal: new AbortController().signal });
        const failing = await nextGate();
        await untilParsedPastWrites(seen, pulled, writesInFlight);
        failing.fail(new StoreUnavailableError('stage posts'));
        // The writes called before the failure was seen end on their own, and the run waits for them: its
        // attempt is aborted next, which must not overlap them.
        let ended = false;
        void outcome.then(() => (ended = true));
        for (let i = 1; i < writesInFlight; i++) {
          const gate = await nextGate();
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal(ended, false, 'the run waits for the writes still in flight');
          gate.open();
        }

        const failed = await outcome;
        assert.equal(failed.status, 'failed');
        assert.match(failed.error ?? '', /the store is unavailable \(stage posts\)/);
        assert.equal(seen.calls, writesInFlight, 'no write after the failure was seen');
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      const posts = await store.listPosts({ limit: 1000, offset: 0 });
      assert.deepEqual(new Set(posts.map((post) => post.title)), new Set(['good']));
      const status = await store.getStatus();
      assert.equal(status.status, 'failed');
      assert.equal(status.last_successful_run, at(1));
      await store.close();
    });
  }
});

describe('runIngestion counts rejections by attempt', () => {
  it('when every attempt rejects records and then fails, then the failed run reports its last attempt\'s rejections, and each line names its attempt', async () => {
    const store = await openStore('rejections');
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    let attempts = 0;
    async function* fetchRecords(): AsyncIterable<readonly unknown[]> {
      attempts += 1;
      const invalid = attempts === 1 ? 3 : 2;
      yield [...Array.from({ length: invalid }, (_, i) => ({ id: `bad-${i}` })), { userId: 1, id: 1, title: 't', body: 'b' }];
      throw new UpstreamNetworkError('connection closed before the response was complete');
    }
    const retrying = { ...deps(store, fetchRecords), logger, retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 } };
    const outcome = await runIngestion(retrying, { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });

    assert.equal(outcome.status, 'failed');
    assert.equal(attempts, 2);
    assert.equal(outcome.recordsRejected, 2, 'the last attempt rejected two');
    assert.equal((await store.listRuns(1))[0]?.records_rejected, 2);
    const rejectedIn = lines.filter((line) => line.msg === 'record rejected').map((line) => line.attempt);
    assert.deepEqual(rejectedIn, [1, 1, 1, 2, 2]);
    await store.close();
  });
});

describe('runIngestion times the whole run', () => {
  it('when the commit takes time, then finished_at and duration_ms include it', async () => {
    const store = await openStore('timed');
    let clock = Date.parse(at(1));
    // The commit moves the clock on before the store merges: five seconds of merging, without waiting for them.
    interceptWriter(store, (writer) => ({
      commit: (result) => {
        clock += 5_000;
        return writer.commit(result);
      },
    }));
    const timed = { ...deps(store, source(BATCH, 'one').fetchRecords), now: () => new Date(clock) };
    const outcome = await runIngestion(timed, { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });

    assert.equal(outcome.status, 'success');
    const [run] = await store.listRuns(1);
    assert.equal(run?.finished_at, new Date(Date.parse(at(1)) + 5_000).toISOString());
    assert.equal(run?.duration_ms, 5_000);
    assert.equal((await store.getStatus()).last_duration_ms, 5_000);
    await store.close();
  });
});

describe('runIngestion records a failed run once the store takes it', () => {
  /** A store that refuses the first `refusals` attempts to record the failure, as one that went away would. */
  function refuseAborts(store: SqliteStore, refusals: number) {
    const attempts = { count: 0 };
    interceptWriter(store, (writer) => ({
      write: () => Promise.reject(new StoreUnavailableError('stage posts')),
      abort: (result) => {
        attempts.count += 1;
        return attempts.count <= refusals ? Promise.reject(new StoreUnavailableError('abort run')) : writer.abort(result);
      },
    }));
    return attempts;
  }

  it('when recording the failure is refused, then it is asked again until the store takes it, with the run\'s own cause', async () => {
    const store = await openStore('record-later');
    const attempts = refuseAborts(store, 1);
    const outcome = await runIngestion(deps(store, source(BATCH, 'one').fetchRecords), { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });

    assert.equal(outcome.status, 'failed');
    assert.equal(attempts.count, 2);
    const [run] = await store.listRuns(1);
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /the store is unavailable \(stage posts\)/);
    assert.match((await store.getStatus()).last_error ?? '', /stage posts/);
    await store.close();
  });

  it('when the run is cancelled while the store refuses, then the wait ends with one last attempt and the run is left to the next lease holder', async () => {
    const store = await openStore('record-cancelled');
    const attempts = refuseAborts(store, Number.POSITIVE_INFINITY);
    const cancel = new AbortController();
    // Half the jitter's range: the first wait is 500 ms, not anywhere down to 0 ms, so the test sees it begin.
    const halfJitter = { ...deps(store, source(BATCH, 'one').fetchRecords), random: () => 0.5 };
    const outcome = runIngestion(halfJitter, { runId: 'r1', startedAt: new Date(at(1)), signal: cancel.signal });
    await until(() => attempts.count === 1, 'the first attempt to record the failure');
    cancel.abort();

    assert.equal((await outcome).status, 'failed');
    assert.equal(attempts.count, 2, 'one last attempt once cancelled, then no more');
    assert.equal((await store.listRuns(1))[0]?.status, 'running');
    assert.equal(await store.recoverInterruptedRuns(at(2)), 1);
    assert.match((await store.listRuns(1))[0]?.error ?? '', /^interrupted: the run's end was not recorded/);
    await store.close();
  });

  it('when the run is cancelled while it waits to retry the upstream, then that retry is not counted; one that is made is', async () => {
    const store = await openStore('retry-counted');
    const failingOnce = () => {
      let calls = 0;
      return async function* fetchRecords(): AsyncIterable<readonly unknown[]> {
        calls += 1;
        if (calls === 1) throw new UpstreamNetworkError('connection error ECONNRESET');
        yield [{ userId: 1, id: 1, title: 't', body: 'b' }];
      };
    };
    const retried = async (baseDelayMs: number, cancelAfterMs?: number) => {
      const metrics = createMetrics();
      const cancel = new AbortController();
      const waiting = { ...deps(store, failingOnce()), metrics, retry: { retries: 1, baseDelayMs, maxDelayMs: baseDelayMs }, random: () => 0.99 };
      const run = runIngestion(waiting, { runId: `r-${baseDelayMs}`, startedAt: new Date(at(1)), signal: cancel.signal });
      if (cancelAfterMs !== undefined) setTimeout(() => cancel.abort(), cancelAfterMs);
      const outcome = await run;
      const counted = (await metrics.upstreamRetries.get()).values.reduce((sum, v) => sum + v.value, 0);
      return { status: outcome.status, counted };
    };
    assert.deepEqual(await retried(60_000, 50), { status: 'failed', counted: 0 });
    assert.deepEqual(await retried(1), { status: 'success', counted: 1 });
    await store.close();
  });

  it('when another replica took the run over (the lease lost, or a later run began), then this replica does not count it failed again; a run failing on its own is counted', async () => {
    const path = 'taken-over';
    const store = await openStore(path);
    const other = await openStore(path);
    const failedRuns = async (metrics: ReturnType<typeof createMetrics>) =>
      (await metrics.runs.get()).values.find((v) => v.labels.outcome === 'failed')?.value ?? 0;
    /** One record, then the upstream waits until `resume` is called. */
    const stalling = () => {
      let resume: () => void = () => undefined;
      const resumed = new Promise<void>((resolve) => (resume = resolve));
      let started: () => void = () => undefined;
      const stalled = new Promise<void>((resolve) => (started = resolve));
      async function* fetchRecords(): AsyncIterable<readonly unknown[]> {
        yield [{ userId: 1, id: 1, title: 'old', body: 'b' }];
        started();
        await resumed;
      }
      return { fetchRecords, stalled, resume };
    };

    // A later run begins and commits while this one stalls: this one's commit is refused.
    const superseded = stalling();
    const supersededMetrics = createMetrics();
    const first = runIngestion({ ...deps(store, superseded.fetchRecords), metrics: supersededMetrics }, { runId: 'r1', startedAt: new Date(at(1)), signal: new AbortController().signal });
    await superseded.stalled;
    assert.equal(await other.recoverInterruptedRuns(at(2)), 1, 'the later run\'s replica marks (and counts) this one failed');
    const later = await other.beginRun({ runId: 'r2', startedAt: at(3) });
    await later.write([{ userId: 1, id: 1, title: 'new', body: 'b', ingested_at: at(3), source: SOURCE }]);
    await later.commit({ finishedAt: () => at(4), recordsIngested: 1, recordsRejected: 0 });
    superseded.resume();
    const outcome = await first;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^a run that began after this one took over/);
    assert.equal(await failedRuns(supersededMetrics), 0);
    await new Promise((resolve) => setTimeout(resolve, 50)); // past the store's read snapshot
    assert.equal((await store.getPost(1))?.title, 'new');

    // The renewal finds the lease taken: the scheduler stops the run with LeaseLostError.
    const lost = stalling();
    const lostMetrics = createMetrics();
    const cancel = new AbortController();
    const second = runIngestion({ ...deps(store, lost.fetchRecords), metrics: lostMetrics }, { runId: 'r5', startedAt: new Date(at(5)), signal: cancel.signal });
    await lost.stalled;
    cancel.abort(new LeaseLostError());
    lost.resume();
    assert.equal((await second).status, 'failed');
    assert.equal(await failedRuns(lostMetrics), 0);

    // A run that fails by itself is counted here.
    const ownMetrics = createMetrics();
    const failing = async function* (): AsyncIterable<readonly unknown[]> {
      yield* [];
      throw new UpstreamStatusError(404);
    };
    assert.equal((await runIngestion({ ...deps(store, failing), metrics: ownMetrics }, { runId: 'r6', startedAt: new Date(at(6)), signal: new AbortController().signal })).status, 'failed');
    assert.equal(await failedRuns(ownMetrics), 1);
    await other.close();
    await store.close();
  });
});
