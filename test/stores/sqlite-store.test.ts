import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import type { Store } from '../../src/stores/store.js';
import { at, ingestRun, samplePost } from '../support/store-fixtures.js';

const SOURCE = 'placeholder_api';

describe('sqlite store: reads share a snapshot for a moment', () => {
  let dir: string;
  const open: Store[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ingestion-sqlite-snapshot-'));
  });
  after(async () => {
    await Promise.allSettled(open.map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function openStore(file: string): Promise<Store> {
    const store = new SqliteStore({ path: join(dir, file), tableName: 'posts', source: SOURCE, batchSize: 100, runHistoryLimit: 100 });
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
