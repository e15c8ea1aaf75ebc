import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { StoreSetupError, StoreUnavailableError } from '../../src/errors.js';
import { lastingRefusal } from '../../src/stores/sqlite/sqlite-refusals.js';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import type { Store } from '../../src/stores/store.js';
import { at, ingestRun, rejection, samplePost } from '../support/store-fixtures.js';

const SOURCE = 'placeholder_api';

function newStore(path: string, batchSize = 100): SqliteStore {
  return new SqliteStore({ path, tableName: 'posts', source: SOURCE, batchSize, runHistoryLimit: 100 });
}

/** Opens a store on `path` for the length of `use`, and closes it whatever happens. */
async function withStore(path: string, batchSize: number, use: (store: SqliteStore) => Promise<void>): Promise<void> {
  const store = newStore(path, batchSize);
  try {
    await store.init();
    await use(store);
  } finally {
    await store.close();
  }
}

/** A fresh folder for the tests of the describe that calls it, removed after them (after hooks made before it). */
function inTemporaryFolder(prefix: string, made: (path: string) => void): void {
  let path = '';
  before(async () => made((path = await mkdtemp(join(tmpdir(), prefix)))));
  after(() => rm(path, { recursive: true, force: true }));
}

describe('sqlite store: reads share a snapshot for a moment', () => {
  const open: Store[] = [];
  after(async () => {
    await Promise.allSettled(open.map((store) => store.close()));
  });
  let dir = '';
  inTemporaryFolder('ingestion-sqlite-snapshot-', (path) => (dir = path));

  async function openStore(file: string): Promise<Store> {
    const store = newStore(join(dir, file));
    open.push(store);
    await store.init();
    return store;
  }

  it('when this store writes, then its next read sees the write at once', async () => {
    const store = await openStore('own.db');
    assert.equal(await store.getPost(1), undefined);
    await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]);
    assert.equal((await store.getPost(1))?.id, 1);
    assert.equal((await store.getStatus()).status, 'success');
  });

  it('when another connection commits, then reads see it within a few tens of milliseconds', async () => {
    const reader = await openStore('shared.db');
    const writer = await openStore('shared.db');
    assert.equal(await reader.getPost(7), undefined);
    await ingestRun(writer, 'r1', at(1), [samplePost(7, SOURCE)]);
    await sleep(100);
    assert.equal((await reader.getPost(7))?.id, 7);
    assert.equal((await reader.getStatus()).last_successful_run, at(1));
  });
});

describe('sqlite store: writes run on a thread of their own', () => {
  let dir = '';
  inTemporaryFolder('ingestion-sqlite-writer-', (path) => (dir = path));

  it('when a run commits, then its records reach the database file while the store stays open', async () => {
    const path = join(dir, 'open.db');
    await withStore(path, 500, async (store) => {
      const empty = (await stat(path)).size;
      const posts = Array.from({ length: 2_000 }, (_, i) => samplePost(i + 1, SOURCE, { body: 'b'.repeat(400) }));
      await ingestRun(store, 'r1', at(1), posts, { batchSize: 500 });
      // About 1 MB of records, a fraction of the 1,000 pages at which a commit would checkpoint by default:
      // only the writer thread's checkpoint copies them from the WAL into the file before the store closes.
      const deadline = Date.now() + 20_000;
      while ((await stat(path)).size < empty + 800_000) {
        assert.ok(Date.now() < deadline, `the database file stayed at ${(await stat(path)).size} bytes`);
        await sleep(20);
      }
      assert.equal((await store.getPost(2_000))?.id, 2_000);
    });
  });

  it('when the store closes, then the last checkpoint has run and the WAL file is gone', async () => {
    const path = join(dir, 'closed.db');
    const store = newStore(path);
    await store.init();
    await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]);
    assert.ok(existsSync(`${path}-wal`));
    await store.close();
    assert.equal(existsSync(`${path}-wal`), false);
    const reopened = newStore(path);
    try {
      await reopened.init();
      assert.equal((await reopened.getPost(1))?.id, 1);
    } finally {
      await reopened.close();
    }
  });

  it('when a run commits, then the event loop keeps answering reads until the merge is done', async () => {
    await withStore(join(dir, 'busy.db'), 1_000, async (store) => {
      await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]);
      const writer = await store.beginRun({ runId: 'r2', startedAt: at(2) });
      for (let i = 0; i < 20; i++) {
        await writer.write(Array.from({ length: 1_000 }, (_, j) => samplePost(i * 1_000 + j + 2, SOURCE, { body: 'b'.repeat(200), ingested_at: at(2) })));
      }
      let committed = false;
      const commit = writer.commit({ finishedAt: () => at(3), recordsIngested: 20_001, recordsRejected: 0 }).finally(() => {
        committed = true;
      });
      // Merging 20,000 records takes the writer thread milliseconds; a merge on this thread would leave no turn
      // of the event loop, and so no read, before it ended.
      let answered = 0;
      while (!committed) {
        await new Promise((resolve) => setImmediate(resolve));
        if (!committed && (await store.getPost(1))?.id === 1) answered += 1;
      }
      await commit;
      assert.ok(answered > 0, 'no read was answered while the run committed');
      assert.equal((await store.getPost(20_001))?.id, 20_001);
    });
  });

  it('when the database cannot be opened, then init fails as STORE_UNAVAILABLE naming SQLITE_PATH, what to check and the code, not the path', async () => {
    // A directory where the file should be: the writer thread fails to open it, and stops.
    const store = newStore(dir);
    const error = await rejection(store.init());
    assert.ok(error instanceof StoreSetupError);
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    assert.match(error.message, /^SQLITE_PATH cannot be used: .*directory.*\(SQLITE_CANTOPEN\)$/);
    assert.ok(!error.message.includes(dir), 'the path stays out of the message');
    await store.close();
  });

  it('when better-sqlite3\'s native module cannot be loaded, then the service stops at start with one line naming the driver, not SQLITE_PATH', () => {
    // As when the module was built for another Node.js: the loader refuses it.
    const preload = join(dir, 'refuse-native-module.cjs');
    writeFileSync(
      preload,
      `const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  if (String(filename).includes('better_sqlite3')) throw Object.assign(new Error('compiled against a different Node.js version'), { code: 'ERR_DLOPEN_FAILED' });
  return dlopen.call(this, module, filename, ...rest);
};
`,
    );
    const env = { PATH: process.env.PATH ?? '', SQLITE_PATH: join(dir, 'driverless', 'ingestion.db'), SERVER_PORT: '0' };
    const result = spawnSync(process.execPath, ['--require', preload, 'dist/main.js'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', /^cannot start: STORAGE_TYPE cannot be used: SQLite's driver \(better-sqlite3's native module\) cannot be loaded: .*npm ci.* \(STORAGE_TYPE=sqlite\)$/);
  });

  it('when SQLITE_PATH lies where no folder can be made (under /proc), then init fails at once saying so', { skip: process.platform !== 'linux' && '/proc is Linux\'s' }, async () => {
    const store = newStore('/proc/no-such-folder/ingestion.db');
    const error = await rejection(store.init());
    assert.ok(error instanceof StoreSetupError, String(error));
    assert.equal(error.message, 'SQLITE_PATH cannot be used: its folder cannot be created there (ENOENT)');
    await store.close();
  });

  it('when the file is not a SQLite database, then init says so', async () => {
    const path = join(dir, 'not-a-database.db');
    await writeFile(path, 'plain text, not a database: '.repeat(200));
    const store = newStore(path);
    const error = await rejection(store.init());
    assert.ok(error instanceof StoreSetupError);
    assert.match(error.message, /not a SQLite database \(SQLITE_NOTADB\)/);
    await store.close();
  });

  it('when TABLE_NAME names tables that lack what the service needs, or a newer version migrated them, then init refuses naming TABLE_NAME', async () => {
    const path = join(dir, 'foreign.db');
    const other = new Database(path);
    other.exec('CREATE TABLE posts (id INTEGER PRIMARY KEY, name TEXT)');
    other.close();
    const foreign = await rejection(newStore(path).init());
    assert.ok(foreign instanceof StoreSetupError, String(foreign));
    assert.equal(foreign.message, 'TABLE_NAME cannot be used: table "posts" lacks the columns user_id, title, body, ingested_at, source this service needs (another service\'s table, or altered by hand?)');

    const newerPath = join(dir, 'newer.db');
    await withStore(newerPath, 100, async () => undefined);
    const db = new Database(newerPath);
    db.prepare(`INSERT INTO posts_migrations (version, applied_at) VALUES (99, ?)`).run(at(1));
    db.close();
    const newer = await rejection(newStore(newerPath).init());
    assert.ok(newer instanceof StoreSetupError, String(newer));
    assert.match(newer.message, /^TABLE_NAME cannot be used: its tables are at schema 99, newer than this version knows \(2\)/);
  });

  it('when a table is dropped under the running store, then reads and runs fail saying it does not exist, not to try again shortly', async () => {
    const path = join(dir, 'dropped.db');
    await withStore(path, 100, async (store) => {
      await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]);
      const other = new Database(path);
      other.exec('DROP TABLE posts');
      other.close();
      // The read snapshot a store keeps for a moment would still answer from before the drop.
      await sleep(100);
      const run = await store.beginRun({ runId: 'r2', startedAt: at(2) });
      const errors = [await rejection(store.getPost(1)), await rejection(run.write([samplePost(2, SOURCE, { ingested_at: at(2) })]))];
      for (const error of errors) {
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.match(error.message, /^the store refused \([a-z ]+\): a table of the service does not exist; it will refuse again until an operator fixes that$/);
      }
    });
  });

  it('when the database file is deleted or replaced under the running store, then /ready\'s ping and a run\'s begin fail saying so, not to try again shortly', async () => {
    const path = join(dir, 'moved.db');
    const refused = /^the store refused \((ping|begin run)\): the database file was deleted or replaced while the service ran; restart it to open the file at SQLITE_PATH; it will refuse again until an operator fixes that$/;
    for (const move of [() => rm(path), () => rename(join(dir, 'other.db'), path)]) {
      await withStore(join(dir, 'other.db'), 100, async () => undefined);
      await withStore(path, 100, async (store) => {
        await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]);
        await store.ping();
        await move();
        for (const error of [await rejection(store.ping()), await rejection(store.beginRun({ runId: 'r2', startedAt: at(2) }))]) {
          assert.ok(error instanceof StoreUnavailableError, String(error));
          assert.match(error.message, refused);
        }
      });
      await rm(path, { force: true });
    }
  });

  it('when the record of migrations is lost but the tables are current, then init takes them as they are', async () => {
    const path = join(dir, 'no-migrations.db');
    await withStore(path, 100, (store) => ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE)]).then(() => undefined));
    const db = new Database(path);
    db.exec('DROP TABLE posts_migrations');
    db.close();
    await withStore(path, 100, async (store) => assert.equal((await store.getPost(1))?.id, 1));
  });

  it('when a second run begins on the same store, then the first run is refused rather than mixed into it', async () => {
    await withStore(join(dir, 'two-runs.db'), 100, async (store) => {
      const first = await store.beginRun({ runId: 'r1', startedAt: at(1) });
      await first.write([samplePost(1, SOURCE, { ingested_at: at(1) })]);
      const second = await store.beginRun({ runId: 'r2', startedAt: at(2) });
      const refused = await rejection(first.write([samplePost(2, SOURCE, { ingested_at: at(1) })]));
      assert.ok(refused instanceof StoreUnavailableError);
      assert.ok(await rejection(first.commit({ finishedAt: () => at(3), recordsIngested: 2, recordsRejected: 0 })) instanceof StoreUnavailableError);
      await second.write([samplePost(3, SOURCE, { ingested_at: at(2) })]);
      await second.commit({ finishedAt: () => at(4), recordsIngested: 1, recordsRejected: 0 });
      assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((post) => post.id), [3]);
      assert.equal((await store.getStatus()).last_successful_run, at(2));
      // The displaced run is not left "running" in the history.
      await first.abort({ finishedAt: at(5), error: 'displaced', recordsRejected: 0 });
      assert.deepEqual(
        (await store.listRuns(10)).map((run) => [run.run_id, run.status]),
        [['r2', 'success'], ['r1', 'failed']],
      );
      assert.equal((await store.getStatus()).status, 'success');
    });
  });

  it('when the writer thread dies mid-run, then the run is recorded failed, nothing of it is stored, and the next run succeeds', async () => {
    // Node announces every worker thread it starts; the store's starts when it opens.
    const threads: Worker[] = [];
    const collect = (worker: Worker) => threads.push(worker);
    process.on('worker', collect);
    try {
      await withStore(join(dir, 'thread-dies.db'), 100, async (store) => {
        await ingestRun(store, 'r1', at(1), [samplePost(1, SOURCE), samplePost(2, SOURCE)]);
        const run = await store.beginRun({ runId: 'r2', startedAt: at(2) });
        await run.write([samplePost(3, SOURCE, { ingested_at: at(2) })]);
        assert.equal(threads.length, 1);
        await threads[0]?.terminate();

        // The stage died with the thread: the run cannot go on, and says so as the contract's error.
        assert.ok((await rejection(run.write([samplePost(4, SOURCE, { ingested_at: at(2) })]))) instanceof StoreUnavailableError);
        await run.abort({ finishedAt: at(5), error: 'store unavailable', recordsRejected: 0 });
        const [failed] = await store.listRuns(1);
        assert.deepEqual([failed?.run_id, failed?.status, failed?.error, failed?.duration_ms], ['r2', 'failed', 'store unavailable', 3000]);
        const status = await store.getStatus();
        assert.deepEqual([status.status, status.last_error, status.last_successful_run], ['failed', 'store unavailable', at(1)]);
        assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((post) => post.id), [1, 2]);

        await ingestRun(store, 'r3', at(6), [samplePost(5, SOURCE)]);
        assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((post) => post.id), [1, 2, 5]);
        assert.equal((await store.getStatus()).status, 'success');
        assert.equal(threads.length, 2, 'a new writer thread took over');
      });
    } finally {
      process.off('worker', collect);
    }
  });
});

/**
 * Runs `body` (ESM TypeScript, after `store` is opened on `dir`/data.db and initialised) in a process of its
 * own, under `shell` (bash, run before node starts), and returns the JSON its last output line holds. A
 * process of its own: SQLite reads SQLITE_TMPDIR and TMPDIR once, at the first open in a process.
 */
async function inChildProcess<T>(dir: string, body: string, env: NodeJS.ProcessEnv, shell = 'true'): Promise<T> {
  const script = join(dir, 'child.mts');
  await writeFile(
    script,
    `import { readdirSync, readlinkSync } from 'node:fs';
     import { SqliteStore } from ${JSON.stringify(new URL('../../src/stores/sqlite/sqlite-store.ts', import.meta.url).href)};
     import { ingestRun, samplePost } from ${JSON.stringify(new URL('../support/store-fixtures.ts', import.meta.url).href)};
     const store = new SqliteStore({ path: ${JSON.stringify(join(dir, 'data.db'))}, tableName: 'posts', source: 's', batchSize: 1000, runHistoryLimit: 10 });
     await store.init();
     ${body}
     await store.close();`,
  );
  const result = spawnSync('bash', ['-c', `${shell} && exec "$0" --import tsx "$1"`, process.execPath, script], { env, encoding: 'utf8', timeout: 110_000 });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null') as T;
}

/** 1,000 posts of about 350 bytes each from id `from`, 35 KB of stage: enough of them outgrow a 16 MB cache. */
const bulkPosts = "(from) => Array.from({ length: 1000 }, (_, i) => samplePost(from + i, 's', { body: 'x'.repeat(300) }))";

describe('sqlite store: refusals that last', () => {
  let dir = '';
  inTemporaryFolder('sqlite-refusals-', (path) => (dir = path));

  /** The driver's own error for `statement`, run on a fresh connection to `path`. */
  function driverError(path: string, statement: string, options?: Database.Options): unknown {
    const db = new Database(path, options);
    try {
      db.exec(statement);
      return undefined;
    } catch (error) {
      return error;
    } finally {
      db.close();
    }
  }

  it('when SQLite answers that the file is read-only, corrupt or not a database, or a table or column is gone, then the refusal says which', async () => {
    const path = join(dir, 'refusals.db');
    const db = new Database(path);
    db.exec('CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)');
    db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO posts SELECT i, printf('%.500c', 'x') FROM n`);
    db.close();
    const garbage = join(dir, 'garbage.db');
    await writeFile(garbage, 'plain text, not a database: '.repeat(200));

    const cases: ReadonlyArray<readonly [error: unknown, refusal: string | undefined]> = [
      [driverError(path, 'INSERT INTO posts VALUES (1000, 0)', { readonly: true }), 'the database file or its folder became read-only for this process'],
      [driverError(garbage, 'SELECT * FROM posts'), 'the database file is no longer a SQLite database'],
      [driverError(path, 'SELECT * FROM missing'), 'a table of the service does not exist'],
      [driverError(path, 'SELECT body FROM posts'), 'a table of the service lacks a column it needs (altered by hand?)'],
      [driverError(path, 'INSERT INTO posts (id, body) VALUES (1000, 0)'), 'a table of the service lacks a column it needs (altered by hand?)'],
      // A syntax error is the service's own fault, not an operator's to fix: no refusal.
      [driverError(path, 'SELEKT 1'), undefined],
    ];
    for (const [error, refusal] of cases) {
      assert.ok(error instanceof Error, 'the driver raised no error');
      assert.equal(lastingRefusal(error), refusal, (error as Error).message);
    }

    // A page of the table overwritten: the file is corrupt.
    const bytes = await readFile(path);
    bytes.fill(0xa5, 4096 * 2, 4096 * 4);
    await writeFile(path, bytes);
    const corrupt = driverError(path, 'SELECT sum(length(title)) FROM posts');
    assert.ok(corrupt instanceof Error, 'the driver raised no error');
    assert.equal(lastingRefusal(corrupt), 'the database file is corrupt', corrupt.message);
  });
});

describe('sqlite store: the WAL', () => {
  let dir = '';
  inTemporaryFolder('ingestion-sqlite-wal-', (path) => (dir = path));

  it('when reads never stop while runs change every record and the lease is given back after each, then the WAL stays near one run\'s size', async () => {
    const path = join(dir, 'busy.db');
    await withStore(path, 1000, async (store) => {
      let reading = true;
      // Reads back to back, as a loaded API does: some snapshot is open at almost every moment.
      const reads = (async () => {
        while (reading) {
          await store.getPost(1);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const sizes: number[] = [];
      try {
        for (let run = 1; run <= 5; run++) {
          const posts = Array.from({ length: 20_000 }, (_, i) => samplePost(i + 1, SOURCE, { body: `run ${run} `.repeat(30) }));
          await ingestRun(store, `r${run}`, at(run), posts, { batchSize: 1000 });
          // What the scheduler writes after each run: the lease, given back with the run's start.
          await store.acquireLease({ owner: 'me', now: at(run), expiresAt: at(run + 30) });
          await store.releaseLease('me', at(run));
          await sleep(200);
          sizes.push((await stat(`${path}-wal`)).size);
        }
      } finally {
        reading = false;
        await reads;
      }
      // A run that changes every record writes about the database's size into the WAL. Bounded, the WAL holds
      // at most that (a checkpoint still waiting for a reader); growing, it held one more each run.
      const database = (await stat(path)).size;
      assert.ok(sizes.every((size) => size <= database * 1.5), `WAL bytes after each run: ${sizes.join(', ')}; database: ${database}`);
    });
  });
});

describe('sqlite store: temporary files', () => {
  let dir = '';
  inTemporaryFolder('ingestion-sqlite-temp-', (path) => (dir = path));

  it('when neither SQLITE_TMPDIR nor TMPDIR is set, then a run that outgrows the cache spills into the database\'s folder, the one a read-only container can write', async () => {
    const env = { ...process.env };
    delete env.TMPDIR;
    delete env.SQLITE_TMPDIR;
    const sub = join(dir, 'spill');
    await mkdir(sub);
    const temporary = await inChildProcess<string[]>(
      sub,
      `const posts = [];
       for (let from = 1; from <= 100000; from += 1000) posts.push(...(${bulkPosts})(from));
       await ingestRun(store, 'r1', new Date().toISOString(), posts, { batchSize: 1000 });
       const open = readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } });
       console.log(JSON.stringify(open.filter((target) => target.includes('etilqs_'))));`,
      env,
    );
    assert.ok(temporary.length > 0, 'the run spilled to a temporary file');
    for (const file of temporary) assert.ok(file.startsWith(join(sub, 'etilqs_')), file);
  });

  it('when a run\'s stage fills the disk, then the failure is still recorded, the stage\'s file goes, and the next run succeeds', async () => {
    const sub = join(dir, 'full');
    await mkdir(sub);
    // Every file the child writes stops growing at 8 MiB, as on a full disk (Node ignores SIGXFSZ: writes fail).
    const outcome = await inChildProcess<{ staged: string; failed: string; after: string }>(
      sub,
      `const writer = await store.beginRun({ runId: 'big', startedAt: new Date(1000).toISOString() });
       let staged = 'all';
       try {
         for (let from = 1; from <= 200000; from += 1000) await writer.write((${bulkPosts})(from));
       } catch (error) {
         staged = error.code + ': ' + error.message;
       }
       await writer.abort({ finishedAt: new Date(2000).toISOString(), error: 'the disk is full', recordsRejected: 0 });
       const [failed] = await store.listRuns(1);
       await ingestRun(store, 'small', new Date(3000).toISOString(), [samplePost(1, 's')]);
       console.log(JSON.stringify({ staged, failed: failed.status, after: (await store.getStatus()).status }));`,
      { ...process.env, SQLITE_TMPDIR: sub },
      'ulimit -f 8192',
    );
    assert.match(outcome.staged, /^STORE_UNAVAILABLE: the store is unavailable \(stage posts\)/);
    assert.equal(outcome.failed, 'failed');
    assert.equal(outcome.after, 'success');
  });
});

