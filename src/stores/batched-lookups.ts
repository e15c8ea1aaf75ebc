import type { Post } from './store.js';

/** Ids per read at most: DynamoDB's BatchGetItem takes 100 keys, and a list of ids this long stays cheap to send. */
export const MAX_IDS_PER_READ = 100;

/**
 * Reads in flight at once, at most; the lookups that arrive meanwhile wait and go together in the next. Two, so
 * that one read is on its way while the answer of the other is handled. More were no faster on PostgreSQL or
 * dynalite, and slower on FerretDB, which runs one query at a time (measured with 1, 2 and 4; PostgreSQL also 8).
 */
export const MAX_READS_IN_FLIGHT = 2;

interface Lookup {
  readonly id: number;
  readonly resolve: (post: Post | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Looks posts up by id, gathering the lookups that wait at the same time into one read of the store. Under load
 * the API answers many `GET /posts/{id}` at once, and against a database server each lookup alone costs a round
 * trip and the server's work per statement, which outweighs reading the row.
 *
 * This is group commit, for reads: lookups are gathered until the event loop has run the I/O it had ready
 * (`setImmediate`; each request arrives in an I/O callback of its own), then read, with at most
 * MAX_READS_IN_FLIGHT reads at once. Lookups that arrive while those are busy wait for one to end and go
 * together in the next. So under light load a lookup is read at once, alone, and under heavy load the reads grow
 * instead of queueing, up to MAX_IDS_PER_READ ids each; a server that answers slowly gets fewer, larger reads.
 *
 * Nothing is cached: every lookup reads the store. A read that fails fails every lookup it carried.
 */
export function batchedLookups(readPosts: (ids: readonly number[]) => Promise<readonly Post[]>): (id: number) => Promise<Post | undefined> {
  const waiting: Lookup[] = [];
  let inFlight = 0;
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      while (inFlight < MAX_READS_IN_FLIGHT && waiting.length > 0) void read(waiting.splice(0, MAX_IDS_PER_READ));
    });
  };

  const read = async (lookups: readonly Lookup[]) => {
    inFlight++;
    try {
      // Each id once: DynamoDB refuses a BatchGetItem that names a key twice.
      const found = new Map((await readPosts([...new Set(lookups.map((lookup) => lookup.id))])).map((post) => [post.id, post]));
      for (const lookup of lookups) lookup.resolve(found.get(lookup.id));
    } catch (error) {
      for (const lookup of lookups) lookup.reject(error);
    } finally {
      inFlight--;
      if (waiting.length > 0) schedule();
    }
  };

  return (id) =>
    new Promise((resolve, reject) => {
      waiting.push({ id, resolve, reject });
      schedule();
    });
}
