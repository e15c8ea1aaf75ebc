import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { batchedLookups, MAX_IDS_PER_READ, MAX_READS_IN_FLIGHT } from '../../src/stores/batched-lookups.js';
import type { Post } from '../../src/stores/store.js';

const post = (id: number, title = `title ${id}`): Post => ({ userId: 1, id, title, body: 'body', ingested_at: '2026-01-01T00:00:00.000Z', source: 'test' });

/** A table of posts read the way a store reads them, recording the ids of every read it is asked for. */
function table(posts: Post[]) {
  const rows = new Map(posts.map((p) => [p.id, p]));
  const reads: number[][] = [];
  let failNext: Error | undefined;
  return {
    rows,
    reads,
    failNextRead: (error: Error) => (failNext = error),
    readPosts: async (ids: readonly number[]): Promise<Post[]> => {
      reads.push([...ids]);
      const error = failNext;
      failNext = undefined;
      if (error) throw error;
      // In no particular order, as a database may answer.
      return ids.flatMap((id) => rows.get(id) ?? []).reverse();
    },
  };
}

/**
 * Starts a lookup from each of `ids` in a callback of its own, all run in the same turn of the event loop, as
 * requests arriving together are. Immediates, not timers: timers created across a tick of the millisecond
 * clock fall due in different turns.
 */
function lookUpFromSeparateCallbacks(lookUp: (id: number) => Promise<Post | undefined>, ids: readonly number[]): Promise<(Post | undefined)[]> {
  return Promise.all(ids.map((id) => new Promise<Post | undefined>((resolve, reject) => setImmediate(() => lookUp(id).then(resolve, reject)))));
}

describe('batched lookups (GET /posts/{id} against a database server)', () => {
  it('when lookups start in separate callbacks of one turn, then one read serves them all, each with its own post or nothing', async () => {
    const posts = table([post(1), post(2), post(3)]);
    const lookUp = batchedLookups(posts.readPosts);
    const found = await lookUpFromSeparateCallbacks(lookUp, [3, 404, 1, 3]);
    assert.deepEqual(found, [post(3), undefined, post(1), post(3)]);
    assert.equal(posts.reads.length, 1);
    // Each id once, though 3 was asked for twice.
    assert.deepEqual([...(posts.reads[0] ?? [])].sort((a, b) => a - b), [1, 3, 404]);
  });

  it('when more lookups wait than one read takes, then they are split into reads of at most the limit', async () => {
    const count = MAX_IDS_PER_READ * 2 + 1;
    const posts = table(Array.from({ length: count }, (_, i) => post(i + 1)));
    const lookUp = batchedLookups(posts.readPosts);
    const ids = Array.from({ length: count }, (_, i) => i + 1);
    assert.deepEqual(await Promise.all(ids.map(lookUp)), ids.map((id) => post(id)));
    assert.deepEqual(
      posts.reads.map((read) => read.length),
      [MAX_IDS_PER_READ, MAX_IDS_PER_READ, 1],
    );
  });

  it('when the reads in flight are busy, then lookups that arrive meanwhile wait and go together in the next read', async () => {
    const posts = table(Array.from({ length: 10 }, (_, i) => post(i + 1)));
    const answers: (() => void)[] = [];
    // Each read waits to be answered, as a busy server makes it wait.
    const lookUp = batchedLookups(async (ids) => {
      await new Promise<void>((answer) => answers.push(answer));
      return posts.readPosts(ids);
    });
    const found: Promise<Post | undefined>[] = [];
    for (let id = 1; id <= MAX_READS_IN_FLIGHT + 3; id++) {
      found.push(lookUp(id));
      await nextTurn();
    }
    assert.equal(answers.length, MAX_READS_IN_FLIGHT, 'one read per turn until the limit, then none');
    answers.shift()?.();
    await found[0];
    await nextTurn();
    assert.equal(answers.length, MAX_READS_IN_FLIGHT, 'the three that waited are read together');
    for (const answer of answers.splice(0)) answer();
    assert.deepEqual(await Promise.all(found), Array.from({ length: MAX_READS_IN_FLIGHT + 3 }, (_, i) => post(i + 1)));
    assert.deepEqual(posts.reads.map((ids) => ids.length), [...Array.from({ length: MAX_READS_IN_FLIGHT }, () => 1), 3]);
  });

  it('when a read fails, then every lookup it carried fails with its error, and the next lookups read again', async () => {
    const posts = table([post(1), post(2)]);
    const lookUp = batchedLookups(posts.readPosts);
    const outage = new Error('store unavailable');
    posts.failNextRead(outage);
    const failed = await Promise.allSettled([lookUp(1), lookUp(2)]);
    assert.deepEqual(failed, [
      { status: 'rejected', reason: outage },
      { status: 'rejected', reason: outage },
    ]);
    assert.deepEqual(await lookUp(2), post(2));
    assert.equal(posts.reads.length, 2);
  });

  it('when a post changes between lookups, then the later lookup reads the change: nothing is cached', async () => {
    const posts = table([post(1)]);
    const lookUp = batchedLookups(posts.readPosts);
    assert.equal((await lookUp(1))?.title, 'title 1');
    posts.rows.set(1, post(1, 'changed'));
    assert.equal((await lookUp(1))?.title, 'changed');
    posts.rows.delete(1);
    assert.equal(await lookUp(1), undefined);
  });
});
