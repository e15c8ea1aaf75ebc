import DataLoader from 'dataloader';
import type { Post } from './store.js';

/** Ids per query at most: DynamoDB's BatchGetItem takes 100 keys, and a page of ids this long stays cheap to send. */
export const MAX_IDS_PER_LOOKUP = 100;

/**
 * Looks posts up by id, gathering the lookups that wait at the same time into one query of the store. Under
 * load the API answers many `GET /posts/{id}` at once, and against a database server each one alone costs a
 * round trip and the server's work per statement, which outweighs reading the row: gathered, one statement
 * serves them all.
 *
 * Lookups are gathered until the event loop has run the I/O it had ready (`setImmediate`), not just to the
 * end of the current tick: each request arrives in an I/O callback of its own, so a tick holds one lookup.
 * Nothing is cached: every lookup reads the store, and a query that fails fails every lookup it carried.
 */
export function batchedLookups(readPosts: (ids: readonly number[]) => Promise<readonly Post[]>): (id: number) => Promise<Post | undefined> {
  const loader = new DataLoader<number, Post | undefined>(
    async (ids) => {
      const found = new Map((await readPosts(ids)).map((post) => [post.id, post]));
      return ids.map((id) => found.get(id));
    },
    { cache: false, maxBatchSize: MAX_IDS_PER_LOOKUP, batchScheduleFn: (dispatch) => setImmediate(dispatch) },
  );
  return (id) => loader.load(id);
}
