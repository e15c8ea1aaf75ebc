import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { StoreUnavailableError } from '../../src/errors.js';
import type { RunDocument, StatusDocument } from '../../src/stores/mongodb/mongodb-collections.js';
import { MongoDbStore } from '../../src/stores/mongodb/mongodb-store.js';
import { MONGODB_LIMITS, type MongoDbStoreConfig } from '../../src/stores/mongodb/mongodb-store-config.js';
import type { Post, Store } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName } from '../support/backends.js';
import { assertRecordBoundHolds, at, ingestRun, LONGEST_SOURCE, rejection, samplePost, visibleText } from '../support/store-fixtures.js';
import { freePort, startMongoServer, type MongoServer } from '../support/mongodb-backend.js';

const SOURCE = 'mongo-specific';
const wanted = selectedBackends().some((backend) => backend.name === 'mongodb');

const post = (id: number, overrides: Partial<Post> = {}): Post => samplePost(id, SOURCE, overrides);
const ingest = (store: Store, runId: string, startedAt: string, posts: readonly Post[]) => ingestRun(store, runId, startedAt, posts);

describe('MongoDB store', { skip: wanted ? false : 'TEST_STORES does not name mongodb' }, () => {
  let server: MongoServer;
  let admin: MongoClient;
  const stores: Store[] = [];

  before(async () => {
    server = await startMongoServer();
    admin = new MongoClient(server.uri);
    await admin.connect();
  });
  after(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await admin?.close();
    await server?.stop();
  });

  function newStore(overrides: Partial<MongoDbStoreConfig> = {}): MongoDbStore {
    const store = new MongoDbStore({ tableName: uniqueTableName('mg'), source: SOURCE, batchSize: 100, runHistoryLimit: 100, uri: server.uri, ...overrides });
    stores.push(store);
    return store;
  }

  it('when the server is unreachable, then init fails quickly with STORE_UNAVAILABLE naming the host and why, and the password shows nowhere', async () => {
    const password = `pw-${Date.now().toString(36)}-secret`;
    const port = await freePort();
    const store = newStore({ uri: `mongodb://ingest:${password}@127.0.0.1:${port}/ingestion`, serverSelectionTimeoutMs: 500 });
    const started = Date.now();
    const error = await rejection(store.init());
    assert.ok(Date.now() - started < 5_000, 'init gave up within the server selection timeout');
    assert.ok(error instanceof StoreUnavailableError);
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    assert.ok(!visibleText(error).includes(password), `the password leaked: ${visibleText(error)}`);
    assert.match(error.message, new RegExp(`connect to MongoDB at 127\\.0\\.0\\.1:${port}: connection refused`));
    assert.doesNotMatch(error.message, /ECONNREFUSED|MongoServerSelectionError|ingest:/, 'the driver text stays in the cause');
    assert.ok((await rejection(store.ping())) instanceof StoreUnavailableError, 'a store that failed to start is not usable');
  });

  it('when a record is as large as MAX_RECORD_BYTES may be here, with the longest source and ids, then it is stored; a little more is refused', async () => {
    const store = newStore({ source: LONGEST_SOURCE });
    await store.init();
    // The driver holds documents to the server's 16 MiB, so the bound is what keeps the record in.
    await assertRecordBoundHolds(store, MONGODB_LIMITS.maxRecordBytes, StoreUnavailableError);
  });

  it('when nothing has called init, then the store has not connected', async () => {
    const store = newStore({ uri: `mongodb://127.0.0.1:${await freePort()}/ingestion` });
    assert.ok((await rejection(store.listPosts({ limit: 1, offset: 0 }))) instanceof StoreUnavailableError);
  });

  it('when records are read back, then they carry no _id although the stored documents have one', async () => {
    const tableName = uniqueTableName('mg');
    const store = newStore({ tableName });
    await store.init();
    await ingest(store, 'r1', at(1), [post(1), post(2)]);
    for (const found of [...(await store.listPosts({ limit: 10, offset: 0 })), await store.getPost(1)]) {
      assert.deepEqual(Object.keys(found ?? {}).sort(), ['body', 'id', 'ingested_at', 'source', 'title', 'userId']);
    }
    const raw = await admin.db().collection(tableName).findOne({ id: 1 });
    assert.ok(raw?._id !== undefined);
  });

  it('when init runs twice, then the unique id index and the runs index exist once each', async () => {
    const tableName = uniqueTableName('mg');
    const store = newStore({ tableName });
    await store.init();
    await store.init();
    const db = admin.db();
    const records = await db.collection(tableName).listIndexes().toArray();
    assert.deepEqual(records.filter((i) => i.name !== '_id_').map((i) => [i.name, i.key, i.unique]), [['id_unique', { id: 1 }, true]]);
    const runs = await db.collection(`${tableName}_runs`).listIndexes().toArray();
    assert.deepEqual(runs.filter((i) => i.name !== '_id_').map((i) => [i.name, i.key]), [['source_started_at', { source: 1, started_at: -1, _id: -1 }]]);
    await db.collection(tableName).insertOne({ id: 7 });
    await assert.rejects(db.collection(tableName).insertOne({ id: 7 }), /E11000|duplicate/i);
  });

  it('when the same records arrive again unchanged, then nothing is rewritten and recordsChanged is 0', async () => {
    const store = newStore();
    await store.init();
    const posts = Array.from({ length: 30 }, (_, i) => post(i + 1));
    assert.equal((await ingest(store, 'r1', at(1), posts)).recordsChanged, 30);
    const first = await store.listPosts({ limit: 100, offset: 0 });
    assert.equal((await ingest(store, 'r2', at(2), posts)).recordsChanged, 0);
    assert.deepEqual(await store.listPosts({ limit: 100, offset: 0 }), first);
    assert.equal((await store.listRuns(1))[0]?.records_changed, 0);
  });

  it('when one batch repeats an id and a new one, then the last occurrence is written once and counted once', async () => {
    const store = newStore();
    await store.init();
    await ingest(store, 'r1', at(1), [post(1)]);
    const { recordsChanged } = await ingest(store, 'r2', at(2), [post(1, { title: 'a' }), post(2), post(1, { title: 'b' })]);
    assert.equal(recordsChanged, 2);
    assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((p) => [p.id, p.title]), [[1, 'b'], [2, 'title 2']]);
  });

  it('when another writer inserts an id above the stored ones during a run, then the run, which does not read that batch back, still updates it', async () => {
    const tableName = uniqueTableName('mg');
    const store = newStore({ tableName });
    await store.init();
    await ingest(store, 'r1', at(1), [post(1), post(2)]);
    const writer = await store.beginRun({ runId: 'r2', startedAt: at(2) });
    // Inserted after the run read the highest stored id (2): the run takes 3 and 4 for new ones.
    await admin.db().collection(tableName).insertOne({ ...post(3, { title: 'theirs' }), ingested_at: at(1) });
    await writer.write([post(3, { ingested_at: at(2) }), post(4, { ingested_at: at(2) })]);
    const { recordsChanged } = await writer.commit({ finishedAt: () => at(3), recordsIngested: 2, recordsRejected: 0 });
    assert.equal(recordsChanged, 2);
    assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((p) => [p.id, p.title, p.ingested_at]), [
      [1, 'title 1', at(1)],
      [2, 'title 2', at(1)],
      [3, 'title 3', at(2)],
      [4, 'title 4', at(2)],
    ]);
  });

  it('when a batch lies below the highest id the run wrote, then it is read back: a repeat of an earlier batch\'s id is an update, not a duplicate', async () => {
    const store = newStore();
    await store.init();
    const writer = await store.beginRun({ runId: 'r1', startedAt: at(1) });
    await writer.write([post(10), post(11)]);
    await writer.write([post(1), post(10, { title: 'again' })]);
    const { recordsChanged } = await writer.commit({ finishedAt: () => at(2), recordsIngested: 4, recordsRejected: 0 });
    assert.equal(recordsChanged, 4);
    assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((p) => [p.id, p.title]), [[1, 'title 1'], [10, 'again'], [11, 'title 11']]);
  });

  it('when a run begins with a replica, then the run and status documents carry it, null when a run has none', async () => {
    const tableName = uniqueTableName('mg');
    const store = newStore({ tableName });
    await store.init();
    await store.beginRun({ runId: 'r1', startedAt: at(1), replica: 'pod-a' });
    await store.beginRun({ runId: 'r2', startedAt: at(2) });
    const db = admin.db();
    assert.equal((await db.collection<RunDocument>(`${tableName}_runs`).findOne({ _id: 'r1' }))?.replica, 'pod-a');
    assert.equal((await db.collection<StatusDocument>(`${tableName}_status`).findOne({ _id: SOURCE }))?.last_run_replica, null);
    assert.deepEqual((await store.listRuns(10)).map((r) => [r.run_id, r.replica]), [['r2', null], ['r1', 'pod-a']]);
  });

  it('when the lease is taken and released, then it is one document in <table>_lease keyed by the source', async () => {
    const tableName = uniqueTableName('mg');
    const store = newStore({ tableName });
    await store.init();
    assert.equal((await store.acquireLease({ owner: 'pod-a', now: at(10), expiresAt: at(20) })).acquired, true);
    const leases = admin.db().collection(`${tableName}_lease`);
    assert.deepEqual(await leases.find({}).toArray(), [{ _id: SOURCE, owner: 'pod-a', expires_at: at(20) }]);
    await store.releaseLease('pod-a', at(10));
    assert.deepEqual(await leases.find({}).toArray(), [{ _id: SOURCE, owner: null, expires_at: null, last_started_at: at(10) }]);
    assert.equal((await store.getStatus()).status, 'never_run');
  });

  it('when a server says it is a replica set but has no transactions (FerretDB), then runs still work without them', { skip: process.env.TEST_MONGODB_URI ? 'needs the FerretDB binary' : false }, async () => {
    const replicaSet = await startMongoServer({ replSetName: 'rs0' });
    const uri = `${replicaSet.uri}?directConnection=true`;
    const direct = new MongoClient(uri);
    try {
      // The store's transaction probe is what keeps this working: hello alone would promise transactions.
      assert.equal((await direct.db().command({ hello: 1 })).setName, 'rs0');
      const store = newStore({ uri });
      await store.init();
      await ingest(store, 'r1', at(1), [post(1), post(2)]);
      assert.equal((await store.getStatus()).status, 'success');
      assert.equal((await store.listPosts({ limit: 10, offset: 0 })).length, 2);
      assert.equal(store.capabilities.atomicRuns, false);
    } finally {
      await direct.close();
      await replicaSet.stop();
    }
  });
});
