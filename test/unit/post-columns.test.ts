import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromColumns, toColumns } from '../../src/stores/sqlite/post-columns.js';
import type { Post } from '../../src/stores/store.js';

const post = (id: number, overrides: Partial<Post> = {}): Post => ({
  userId: id % 7,
  id,
  title: `title ${id} 😀`,
  body: `body\n${id}`,
  ingested_at: '2026-01-01T00:00:00.000Z',
  source: 'placeholder_api',
  ...overrides,
});

describe('post columns (a batch crossing to the SQLite writer thread)', () => {
  it('when every post has the same stamp, then it crosses once and comes back on each post', () => {
    const posts = [post(1), post(2_147_483_647), post(3)];
    const columns = toColumns(posts);
    assert.equal(columns.ingestedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(columns.source, 'placeholder_api');
    assert.deepEqual(fromColumns(structuredClone(columns)), posts);
  });

  it('when stamps differ, then each post keeps its own', () => {
    const posts = [post(1), post(2, { ingested_at: '2026-01-02T00:00:00.000Z', source: 'other' })];
    assert.deepEqual(fromColumns(structuredClone(toColumns(posts))), posts);
  });

  it('when the batch is empty, then so are the columns', () => {
    assert.deepEqual(fromColumns(toColumns([])), []);
  });
});
