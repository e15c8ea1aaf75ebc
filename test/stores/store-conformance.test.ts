import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RunSupersededError, StoreUnavailableError } from '../../src/errors.js';
import { WriteAhead } from '../../src/ingest/write-ahead.js';
import { NEVER_RUN, type Post, type Store, type StoreOptions } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName, type BackendHarness } from '../support/backends.js';
import { at, ingestRun, rejection } from '../support/store-fixtures.js';

const SOURCE = 'conformance';

function post(id: number, overrides: Partial<Post> = {}): Post {
  return { userId: 1 + (id % 7), id, title: `title ${id}`, body: `body of ${id}`, ingested_at: '2026-01-01T00:00:00.000Z', source: SOURCE, ...overrides };
}

/** One whole successful run: begin, write in batches, commit (1.5 s long, 2 records rejected). */
const ingest = (store: Store, runId: string, startedAt: string, posts: readonly Post[], batchSize = 100) =>
  ingestRun(store, runId, startedAt, posts, { batchSize, recordsRejected: 2, durationMs: 1500 });

async function allPosts(store: Store): Promise<Post[]> {
  return store.listPosts({ limit: 1000, offset: 0 });
}

for (const backend of selectedBackends()) {
  describe(`${backend.name} store conformance`, () => {
    let harness: BackendHarness;
    const open: Store[] = [];

    before(async () => {
      harness = await backend.start();
    });
    after(async () => {
      await Promise.allSettled(open.map((s) => s.close()));
      await harness?.stop();
    });

    async function newStore(overrides: Partial<StoreOptions> = {}): Promise<Store> {
      const store = harness.createStore({ tableName: uniqueTableName(), source: SOURCE, batchSize: 100, runHistoryLimit: 1000, ...overrides });
      open.push(store);
      await store.init();
      return store;
    }

    it('when nothing was ingested, then it has no posts, no runs and status never_run', async () => {
      const store = await newStore();
      assert.deepEqual(await allPosts(store), []);
      assert.equal(await store.getPost(1), undefined);
      assert.deepEqual(await store.getStatus(), NEVER_RUN);
      assert.deepEqual(await store.listRuns(10), []);
      await store.ping();
    });

    it('when init runs twice on the same table, then the schema and data are unharmed', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1)]);
      await store.init();
      assert.equal((await allPosts(store)).length, 1);
    });

    it('when the same posts are ingested twice, then each id is stored once with the same values', async () => {
      const store = await newStore();
      const posts = Array.from({ length: 250 }, (_, i) => post(i + 1));
      await ingest(store, 'r1', at(1), posts);
      const first = await allPosts(store);
      await ingest(store, 'r2', at(2), posts);
      const second = await allPosts(store);
      assert.equal(second.length, 250);
      assert.deepEqual(second, first);
    });

    it('when a record changed upstream, then it is updated and stamped by the run that changed it', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      await ingest(store, 'r2', at(2), [post(1, { title: 'new title' }), post(2)]);
      assert.deepEqual(await store.getPost(1), post(1, { title: 'new title', ingested_at: at(2) }));
    });

    it('when a record did not change, then it keeps its values and its ingested_at', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      const { recordsChanged } = await ingest(store, 'r2', at(2), [post(1), post(2, { body: 'edited' })]);
      assert.deepEqual(await store.getPost(1), post(1, { ingested_at: at(1) }));
      if (recordsChanged !== null) assert.equal(recordsChanged, 1);
    });

    it('when a batch\'s ids lie close together or far apart, below or above the stored ones, then each is inserted, updated or left as it should', async () => {
      const store = await newStore();
      // Stored: the odd ids 1 to 19, and three far apart.
      const stored = [...Array.from({ length: 10 }, (_, i) => post(2 * i + 1)), post(1_000), post(50_000), post(3_000_000)];
      await ingest(store, 'r1', at(1), stored);
      // Dense (1 to 12, every id): odd ones unchanged but 5, even ones new; sparse: changed, unchanged, new far
      // apart; then a dense batch wholly above every stored id, and one again below it.
      const batches = [
        Array.from({ length: 12 }, (_, i) => post(i + 1, i + 1 === 5 ? { title: 'changed 5' } : {})),
        [post(1_000, { body: 'changed far' }), post(50_000), post(7_000_000)],
        [post(7_000_001), post(7_000_002)],
        [post(13, { title: 'changed 13' }), post(14)],
      ];
      const { recordsChanged } = await ingest(store, 'r2', at(2), batches.flat(), 12);
      const r2 = { ingested_at: at(2) };
      const r1 = { ingested_at: at(1) };
      const expected = [
        ...Array.from({ length: 12 }, (_, i) => post(i + 1, i + 1 === 5 ? { title: 'changed 5', ...r2 } : (i + 1) % 2 === 1 ? r1 : r2)),
        post(13, { title: 'changed 13', ...r2 }),
        post(14, r2),
        ...[15, 17, 19].map((id) => post(id, r1)),
        post(1_000, { body: 'changed far', ...r2 }),
        post(50_000, r1),
        post(3_000_000, r1),
        post(7_000_000, r2),
        post(7_000_001, r2),
        post(7_000_002, r2),
      ];
      assert.deepEqual(await allPosts(store), expected);
      // New: 2, 4, 6, 8, 10, 12, 14 and the three from 7,000,000; changed: 5, 13 and 1,000.
      if (recordsChanged !== null) assert.equal(recordsChanged, 13);
    });

    it('when a response repeats an id, then the last occurrence is kept once', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(5, { title: 'first' }), post(5, { title: 'second' })], 1);
      assert.deepEqual(await allPosts(store), [post(5, { title: 'second', ingested_at: at(1) })]);
    });

    it('when a later batch repeats an id with the stored values, then the earlier change of it is dropped', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      const batches = [[post(1, { title: 'briefly changed' }), post(2, { title: 'changed' })], [post(1), post(3)], [post(3, { body: 'last' })]];
      const { recordsChanged } = await ingest(store, 'r2', at(2), batches.flat(), 2);
      // Where records are written as they come, post 1 was changed and changed back, by run r2.
      const post1Stamp = store.capabilities.atomicRuns ? at(1) : at(2);
      assert.deepEqual(await allPosts(store), [
        post(1, { ingested_at: post1Stamp }),
        post(2, { title: 'changed', ingested_at: at(2) }),
        post(3, { body: 'last', ingested_at: at(2) }),
      ]);
      if (recordsChanged !== null && store.capabilities.atomicRuns) assert.equal(recordsChanged, 2);
    });

    it('when writes are left in flight, as many as the writer allows, then they land in the order they were called', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      const stamp = { ingested_at: at(2) };
      const batches = [
        [post(1, { title: 'briefly changed', ...stamp }), post(2, { title: 'changed', ...stamp })],
        [post(1, stamp), post(3, stamp)],
        [post(3, { body: 'last', ...stamp }), post(4, { title: 'first', ...stamp })],
        [post(4, { title: 'second', ...stamp })],
      ];
      const writer = await store.beginRun({ runId: 'r2', startedAt: at(2) });
      const writes = new WriteAhead(writer);
      for (const batch of batches) await writes.write(batch);
      await writes.drain();
      await writer.commit({ finishedAt: () => at(3), recordsIngested: 7, recordsRejected: 0 });
      const post1Stamp = store.capabilities.atomicRuns ? at(1) : at(2);
      assert.deepEqual(await allPosts(store), [
        post(1, { ingested_at: post1Stamp }),
        post(2, { title: 'changed', ...stamp }),
        post(3, { body: 'last', ...stamp }),
        post(4, { title: 'second', ...stamp }),
      ]);
    });

    it('when paging, then posts come in ascending id order within the bounds asked', async () => {
      const store = await newStore();
      const ids = [17, 3, 25, 1, 9, 12, 2, 30, 8, 4];
      await ingest(store, 'r1', at(1), ids.map((id) => post(id)), 3);
      const sorted = [...ids].sort((a, b) => a - b);
      const page = (limit: number, offset: number) => store.listPosts({ limit, offset }).then((ps) => ps.map((p) => p.id));
      assert.deepEqual(await page(4, 0), sorted.slice(0, 4));
      assert.deepEqual(await page(4, 4), sorted.slice(4, 8));
      assert.deepEqual(await page(4, 8), sorted.slice(8));
      assert.deepEqual(await page(4, 10), []);
      assert.deepEqual(await page(1000, 0), sorted);
      const keyset = (limit: number, after: number) => store.listPosts({ limit, offset: 0, after }).then((ps) => ps.map((p) => p.id));
      assert.deepEqual(await keyset(3, 0), [1, 2, 3]);
      assert.deepEqual(await keyset(3, 3), [4, 8, 9]);
      assert.deepEqual(await keyset(3, 26), [30]);
      assert.deepEqual(await keyset(3, 30), []);
    });

    it('when getting by id, then the stored post comes back in the seed shape, or nothing', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(42)]);
      const found = await store.getPost(42);
      assert.deepEqual(found, post(42, { ingested_at: at(1) }));
      assert.deepEqual(Object.keys(found ?? {}).sort(), ['body', 'id', 'ingested_at', 'source', 'title', 'userId']);
      assert.equal(await store.getPost(43), undefined);
    });

    it('when many lookups by id wait at once, then each gets its own post or nothing', async () => {
      const store = await newStore();
      const stored = Array.from({ length: 150 }, (_, i) => post(2 * i + 1));
      await ingest(store, 'r1', at(1), stored);
      // More than one query's worth, with ids stored and not, and some asked for twice while the first waits.
      const ids = [5, 6, 299, 5, ...Array.from({ length: 240 }, (_, i) => i + 1)];
      const found = await Promise.all(ids.map((id) => store.getPost(id)));
      assert.deepEqual(
        found,
        ids.map((id) => (id % 2 === 1 && id <= 299 ? post(id, { ingested_at: at(1) }) : undefined)),
      );
    });

    it('when a run succeeds and a later one fails, then status and history tell both truthfully', async () => {
      const store = await newStore();
      const committed = await ingest(store, 'r1', at(1), [post(1), post(2), post(3)]);
      assert.deepEqual(committed, { recordsChanged: 3, finishedAt: '2026-01-01T00:00:02.500Z' });
      assert.deepEqual(await store.getStatus(), {
        last_successful_run: at(1),
        last_attempt: at(1),
        status: 'success',
        records_ingested: 3,
        records_rejected: 2,
        last_error: null,
        last_duration_ms: 1500,
        last_run_replica: null,
      });
      const writer = await store.beginRun({ runId: 'r2', startedAt: at(10), replica: 'pod-b' });
      assert.equal((await store.getStatus()).status, 'running');
      assert.equal((await store.listRuns(1))[0]?.status, 'running');
      await writer.abort({ finishedAt: at(12), error: 'upstream answered HTTP 500', recordsRejected: 0 });
      assert.deepEqual(await store.getStatus(), {
        last_successful_run: at(1),
        last_attempt: at(10),
        status: 'failed',
        records_ingested: 3,
        records_rejected: 2,
        last_error: 'upstream answered HTTP 500',
        last_duration_ms: 2000,
        last_run_replica: 'pod-b',
      });
      const runs = await store.listRuns(10);
      assert.deepEqual(runs.map((r) => [r.run_id, r.status]), [['r2', 'failed'], ['r1', 'success']]);
      assert.equal(runs[0]?.error, 'upstream answered HTTP 500');
      assert.equal(runs[0]?.finished_at, at(12));
      assert.equal(runs[1]?.records_ingested, 3);
      assert.equal(runs[1]?.records_rejected, 2);
      assert.equal(runs[1]?.finished_at, committed.finishedAt);
      assert.equal(runs[1]?.duration_ms, 1500);
      assert.equal(runs[1]?.source, SOURCE);
      assert.deepEqual(runs.map((r) => r.replica), ['pod-b', null]);
    });

    it('when a run fails halfway, then records and the last good status stay as before the run', async () => {
      const store = await newStore();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      const before = await allPosts(store);
      const writer = await store.beginRun({ runId: 'r2', startedAt: at(5) });
      await writer.write([post(1, { title: 'half-written', ingested_at: at(5) }), post(99, { ingested_at: at(5) })]);
      await writer.abort({ finishedAt: at(6), error: 'connection reset', recordsRejected: 0 });
      const status = await store.getStatus();
      assert.equal(status.last_successful_run, at(1));
      assert.equal(status.records_ingested, 2);
      if (store.capabilities.atomicRuns) assert.deepEqual(await allPosts(store), before);
      // The history counts what the failed run left changed: nothing where runs are atomic, else its two writes.
      assert.equal((await store.listRuns(1))[0]?.records_changed, store.capabilities.atomicRuns ? 0 : 2);
    });

    it('when an attempt is discarded before a retry, then only the retry’s records are committed', async () => {
      const store = await newStore();
      const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      await writer.write([post(7, { ingested_at: at(1), title: 'from the broken attempt' })]);
      await writer.discardAttempt();
      await writer.write([post(7, { ingested_at: at(1) }), post(8, { ingested_at: at(1) })]);
      await writer.commit({ finishedAt: () => at(2), recordsIngested: 2, recordsRejected: 0 });
      assert.deepEqual(await allPosts(store), [post(7, { ingested_at: at(1) }), post(8, { ingested_at: at(1) })]);
    });

    it('when an attempt that wrote is discarded and the run then fails, then the history still counts what that attempt left', async () => {
      const store = await newStore();
      const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      await writer.write([post(7, { ingested_at: at(1) }), post(8, { ingested_at: at(1) })]);
      await writer.discardAttempt();
      await writer.abort({ finishedAt: at(2), error: 'upstream answered HTTP 500', recordsRejected: 0 });
      assert.equal((await store.listRuns(1))[0]?.records_changed, store.capabilities.atomicRuns ? 0 : 2);
      assert.equal((await allPosts(store)).length, store.capabilities.atomicRuns ? 0 : 2);
    });

    it('when a run was left running by a dead process, then the next start records it as failed', async () => {
      const tableName = uniqueTableName();
      const crashed = await newStore({ tableName });
      await ingest(crashed, 'r1', at(1), [post(1)]);
      await crashed.beginRun({ runId: 'r2', startedAt: at(5) });
      const restarted = await newStore({ tableName });
      assert.equal(await restarted.recoverInterruptedRuns(at(9)), 1);
      const status = await restarted.getStatus();
      assert.equal(status.status, 'failed');
      assert.match(status.last_error ?? '', /interrupted/);
      assert.equal(status.last_successful_run, at(1));
      // When the dead run ended is not known: /status and /runs both say so, rather than count to the recovery.
      assert.equal(status.last_duration_ms, null);
      const [run] = await restarted.listRuns(1);
      assert.equal(run?.status, 'failed');
      assert.equal(run?.finished_at, at(9));
      assert.equal(run?.duration_ms, null);
      // What the dead run wrote is known where runs are atomic (nothing); elsewhere its count died with it.
      assert.equal(run?.records_changed, crashed.capabilities.atomicRuns ? 0 : null);
      assert.equal(await restarted.recoverInterruptedRuns(at(10)), 0);
    });

    it('when a run is aborted after its commit went through (its answer lost), then it stays a success in /runs and /status', async () => {
      const store = await newStore();
      const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      await writer.write([post(1, { ingested_at: at(1) })]);
      await writer.commit({ finishedAt: () => at(2), recordsIngested: 1, recordsRejected: 0 });
      await writer.abort({ finishedAt: at(3), error: 'the store is unavailable (commit run); try again shortly', recordsRejected: 0 });
      const status = await store.getStatus();
      assert.equal(status.status, 'success');
      assert.equal(status.last_error, null);
      const [run] = await store.listRuns(1);
      assert.equal(run?.status, 'success');
      assert.equal(run?.finished_at, at(2));
      assert.deepEqual(await allPosts(store), [post(1, { ingested_at: at(1) })]);
    });

    it('when a stalled run that recovery marked failed then records its own failure, then /runs and /status carry its cause and end', async () => {
      const tableName = uniqueTableName();
      const stalled = await newStore({ tableName });
      const writer = await stalled.beginRun({ runId: 'r1', startedAt: at(1) });
      const taker = await newStore({ tableName });
      assert.equal(await taker.recoverInterruptedRuns(at(5)), 1);
      const cause = 'interrupted: another replica took over the run lease';
      await writer.abort({ finishedAt: at(6), error: cause, recordsRejected: 2 });
      const [run] = await taker.listRuns(1);
      assert.equal(run?.status, 'failed');
      assert.equal(run?.error, cause);
      assert.equal(run?.finished_at, at(6));
      assert.equal(run?.duration_ms, Date.parse(at(6)) - Date.parse(at(1)));
      assert.equal(run?.records_rejected, 2);
      const status = await taker.getStatus();
      assert.equal(status.status, 'failed');
      assert.equal(status.last_error, cause);
    });

    it('when a stalled run that recovery marked failed then commits after all, then /runs shows a success without the recovery\'s error', async () => {
      const tableName = uniqueTableName();
      const stalled = await newStore({ tableName });
      const writer = await stalled.beginRun({ runId: 'r1', startedAt: at(1) });
      await writer.write([post(1, { ingested_at: at(1) })]);
      const taker = await newStore({ tableName });
      assert.equal(await taker.recoverInterruptedRuns(at(5)), 1);
      await writer.commit({ finishedAt: () => at(6), recordsIngested: 1, recordsRejected: 0 });
      const [run] = await taker.listRuns(1);
      assert.equal(run?.status, 'success');
      assert.equal(run?.error, null);
      assert.equal(run?.finished_at, at(6));
    });

    it('when two instances run at once on one database, then the run that began later wins: no id is duplicated, the older run is refused and status follows the newer', async () => {
      const tableName = uniqueTableName();
      const [a, b] = [await newStore({ tableName }), await newStore({ tableName })] as [Store, Store];
      const older = Array.from({ length: 300 }, (_, i) => post(i + 1, { title: 'older', ingested_at: at(1) }));
      const newer = Array.from({ length: 300 }, (_, i) => post(i + 101, { title: 'newer', ingested_at: at(2) }));
      const wa = await a.beginRun({ runId: 'older', startedAt: at(1) });
      await wa.write(older.slice(0, 50));
      const wb = await b.beginRun({ runId: 'newer', startedAt: at(2) });
      const [olderRest] = await Promise.allSettled([
        (async () => { for (let i = 50; i < 300; i += 50) await wa.write(older.slice(i, i + 50)); })(),
        (async () => { for (let i = 0; i < 300; i += 50) await wb.write(newer.slice(i, i + 50)); })().then(() =>
          wb.commit({ finishedAt: () => at(3), recordsIngested: 300, recordsRejected: 0 }),
        ),
      ]);
      const refused = await rejection(olderRest.status === 'rejected' ? Promise.reject(olderRest.reason) : wa.commit({ finishedAt: () => at(4), recordsIngested: 300, recordsRejected: 0 }));
      assert.ok(refused instanceof RunSupersededError, String(refused));
      await wa.abort({ finishedAt: at(4), error: refused.message, recordsRejected: 0 });

      const stored = await a.listPosts({ limit: 1000, offset: 0 });
      assert.equal(new Set(stored.map((p) => p.id)).size, stored.length);
      // The newer run's records all stand; of the older's, only what it wrote before the newer began, on stores that write as they come.
      assert.deepEqual(stored.filter((p) => p.id > 100), newer);
      assert.deepEqual(stored.filter((p) => p.id <= 100), a.capabilities.atomicRuns ? [] : older.slice(0, 50));
      const status = await b.getStatus();
      assert.equal(status.last_successful_run, at(2));
      assert.equal(status.last_attempt, at(2));
      assert.equal(status.status, 'success');
      assert.deepEqual((await a.listRuns(10)).map((r) => [r.run_id, r.status]), [['newer', 'success'], ['older', 'failed']]);
    });

    it('when a run whose lease lapsed writes or commits after a later run began, then it is refused and no record goes back to its older copy', async () => {
      const tableName = uniqueTableName();
      const stalled = await newStore({ tableName });
      const later = await newStore({ tableName });
      await ingest(stalled, 'r0', at(0), [post(1), post(2)]);
      const old = { ingested_at: at(1), title: 'old' };
      const writer = await stalled.beginRun({ runId: 'r1', startedAt: at(1) });
      await writer.write([post(1, old)]);
      // r1's replica stalls past LEASE_TTL; another takes the lease and runs r2 over newer upstream data.
      await ingest(later, 'r2', at(5), [post(1, { title: 'new' }), post(2, { title: 'new' }), post(3, { title: 'new' })]);
      // r1 resumes with what it fetched before r2: stores whose runs are atomic refuse its commit, the others its next write.
      const refused = await rejection(
        (async () => {
          await writer.write([post(2, old), post(3, old)]);
          await writer.commit({ finishedAt: () => at(7), recordsIngested: 3, recordsRejected: 0 });
        })(),
      );
      assert.ok(refused instanceof RunSupersededError, String(refused));
      const consequence = later.capabilities.atomicRuns ? 'none of its records were stored' : 'it wrote no more records';
      assert.equal(refused.message, `a run that began after this one took over (this run's lease had lapsed): ${consequence}`);
      await writer.abort({ finishedAt: at(7), error: refused.message, recordsRejected: 0 });

      const stamp = { title: 'new', ingested_at: at(5) };
      assert.deepEqual(await allPosts(later), [post(1, stamp), post(2, stamp), post(3, stamp)]);
      const status = await later.getStatus();
      assert.equal(status.status, 'success');
      assert.equal(status.last_successful_run, at(5));
      assert.deepEqual(
        (await later.listRuns(3)).map((run) => [run.run_id, run.status, run.error]),
        [['r2', 'success', null], ['r1', 'failed', refused.message], ['r0', 'success', null]],
      );
    });

    it('when an older run fails after a newer one began, then its failure is in the history and the status follows the newer run', async () => {
      const tableName = uniqueTableName();
      const [a, b] = [await newStore({ tableName }), await newStore({ tableName })] as [Store, Store];
      const wa = await a.beginRun({ runId: 'older', startedAt: at(1) });
      await wa.write([post(1, { ingested_at: at(1) })]);
      const wb = await b.beginRun({ runId: 'newer', startedAt: at(2) });
      await wb.write([post(2, { ingested_at: at(2) })]);
      await wb.commit({ finishedAt: () => at(3), recordsIngested: 1, recordsRejected: 0 });
      await wa.abort({ finishedAt: at(4), error: 'upstream answered 503', recordsRejected: 2 });
      const runs = await a.listRuns(10);
      assert.deepEqual(runs.map((r) => [r.run_id, r.status, r.error]), [['newer', 'success', null], ['older', 'failed', 'upstream answered 503']]);
      assert.deepEqual([runs[1]?.duration_ms, runs[1]?.records_rejected], [3000, 2]);
      const status = await b.getStatus();
      assert.deepEqual([status.status, status.last_error, status.last_successful_run], ['success', null, at(2)]);
      // A store without atomic runs keeps what the failed run wrote before it failed.
      assert.deepEqual((await a.listPosts({ limit: 10, offset: 0 })).map((p) => p.id), a.capabilities.atomicRuns ? [2] : [1, 2]);
    });

    it('when text is unicode or large, then it comes back byte for byte', async () => {
      const store = await newStore();
      // Also what a bulk text format must escape: tab, newline, carriage return, and a backslash before a letter.
      const unicode = 'Zoë 😀 漢字 ﷽ e\u0301 \u200d👩‍👩‍👧 "quotes" \\ back\\slash \n\t \u2028 \r\n a\\nb \\t end\\';
      const large = 'λ'.repeat(200_000) + unicode;
      await ingest(store, 'r1', at(1), [post(1, { title: unicode, body: large })]);
      const found = await store.getPost(1);
      assert.equal(found?.title, unicode);
      assert.equal(Buffer.from(found?.body ?? '').equals(Buffer.from(large)), true);
    });

    it('when ids reach 2^31-1, then they are stored, ordered and found as numbers', async () => {
      const store = await newStore();
      const max = 2 ** 31 - 1;
      await ingest(store, 'r1', at(1), [post(max), post(1), post(max - 1)]);
      assert.deepEqual((await allPosts(store)).map((p) => p.id), [1, max - 1, max]);
      const found = await store.getPost(max);
      assert.equal(found?.id, max);
      assert.equal(typeof found?.userId, 'number');
    });

    it('when more runs happen than the history keeps, then the oldest are dropped', async () => {
      const store = await newStore({ runHistoryLimit: 3 });
      for (let i = 1; i <= 5; i++) await ingest(store, `r${i}`, at(i), [post(1)]);
      assert.deepEqual((await store.listRuns(10)).map((r) => r.run_id), ['r5', 'r4', 'r3']);
      assert.deepEqual((await store.listRuns(2)).map((r) => r.run_id), ['r5', 'r4']);
    });

    /** A lease request at second `now` for `owner`, lapsing 10 s later, due if the last run started `interval` s ago. */
    const ask = (owner: string, now: number, interval?: number) => ({
      owner,
      now: at(now),
      expiresAt: at(now + 10),
      dueIfStartedBy: interval === undefined ? undefined : at(now - interval),
    });

    it('when replicas ask for a free lease together, then exactly one gets it and the others see who', async () => {
      const tableName = uniqueTableName();
      const replicas = await Promise.all(['a', 'b', 'c', 'd'].map(() => newStore({ tableName })));
      const answers = await Promise.all(replicas.map((store, i) => store.acquireLease(ask(`replica-${i}`, 100, 60))));
      const winners = answers.filter((answer) => answer.acquired);
      assert.equal(winners.length, 1);
      const holder = winners[0]?.lease.owner;
      assert.match(holder ?? '', /^replica-\d$/);
      for (const answer of answers) assert.deepEqual(answer.lease, { owner: holder, expiresAt: at(110), lastStartedAt: null });
    });

    it('when the holder renews, then its lease extends; a replica that does not hold it cannot renew', async () => {
      const store = await newStore();
      assert.equal((await store.acquireLease(ask('a', 100, 60))).acquired, true);
      assert.equal(await store.renewLease('a', at(125)), true);
      assert.equal(await store.renewLease('b', at(200)), false);
      const seen = await store.acquireLease(ask('b', 120, 60));
      assert.equal(seen.acquired, false);
      assert.deepEqual(seen.lease, { owner: 'a', expiresAt: at(125), lastStartedAt: null });
    });

    it('when the holder stops renewing, then its lease lapses, another replica takes it and the old holder has lost it', async () => {
      const store = await newStore();
      await store.acquireLease(ask('a', 100, 60));
      assert.equal((await store.acquireLease(ask('b', 109, 60))).acquired, false);
      const taken = await store.acquireLease(ask('b', 110, 60));
      assert.deepEqual(taken, { acquired: true, lease: { owner: 'b', expiresAt: at(120), lastStartedAt: null } });
      assert.equal(await store.renewLease('a', at(130)), false);
      await store.releaseLease('a', at(100));
      assert.equal((await store.acquireLease(ask('c', 111))).lease.owner, 'b', 'a stale holder cannot release the new holder’s lease');
    });

    it('when a run ends, then the lease is free but the schedule is due only an interval after that run started', async () => {
      const store = await newStore();
      await store.acquireLease(ask('a', 100, 60));
      await store.releaseLease('a', at(100));
      const early = await store.acquireLease(ask('b', 130, 60));
      assert.deepEqual(early, { acquired: false, lease: { owner: null, expiresAt: null, lastStartedAt: at(100) } });
      assert.equal((await store.acquireLease(ask('b', 160, 60))).acquired, true, 'due once the interval has passed');
      await store.releaseLease('b', at(160));
      assert.equal((await store.acquireLease(ask('c', 161))).acquired, true, 'a run asked for now needs only a free lease');
    });

    it('when a run was interrupted, then releasing keeps the schedule due so the next replica runs it at once', async () => {
      const store = await newStore();
      await store.acquireLease(ask('a', 100, 60));
      await store.releaseLease('a', at(100));
      await store.acquireLease(ask('a', 160, 60));
      await store.releaseLease('a');
      const next = await store.acquireLease(ask('b', 161, 60));
      assert.deepEqual(next, { acquired: true, lease: { owner: 'b', expiresAt: at(171), lastStartedAt: at(100) } });
    });

    it('when the holder restarts under the same replica id, then it takes its own lease back before it lapses', async () => {
      const tableName = uniqueTableName();
      const before = await newStore({ tableName });
      await before.acquireLease(ask('pod-a', 100, 60));
      const after = await newStore({ tableName });
      assert.equal((await after.acquireLease(ask('pod-b', 101, 60))).acquired, false);
      assert.equal((await after.acquireLease(ask('pod-a', 101, 60))).acquired, true);
    });

    it('when the store is closed, then calls fail with STORE_UNAVAILABLE', async () => {
      const store = await newStore();
      await store.close();
      await assert.rejects(store.listPosts({ limit: 10, offset: 0 }), (error: unknown) => error instanceof StoreUnavailableError);
    });
  });
}
