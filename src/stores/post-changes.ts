import type { Post } from './store.js';

/** The fields whose difference makes a record "changed"; `ingested_at` is not one, it records the change. */
export const CONTENT_FIELDS = ['userId', 'title', 'body', 'source'] as const;

/**
 * What a store holds of a record's content, read back to compare a batch against before writing it: a row of
 * values rather than an object, because drivers hand rows over faster that way (better-sqlite3's `raw()`,
 * pg's `rowMode: 'array'`; building a million objects took SQLite longer than finding the rows).
 */
export type StoredContent = readonly [id: number, userId: number, title: string, body: string, source: string];

export interface BatchChanges {
  /** Ids the store does not hold. */
  readonly added: Post[];
  /** Ids the store holds with some content field different. */
  readonly changed: Post[];
  /** Ids the store holds exactly so: nothing to write, and they keep their `ingested_at`. */
  readonly unchanged: Post[];
}

/**
 * Sorts a batch (one post per id) by what writing it would do, given the stored copies of its ids. The
 * comparison runs here, in JavaScript, because a store answers "give me these rows" faster than it compares
 * them one statement at a time; a re-run over unchanged data then reads and writes nothing else.
 */
export function batchChanges(posts: readonly Post[], stored: readonly StoredContent[]): BatchChanges {
  const storedById = new Map<number, StoredContent>();
  for (const row of stored) storedById.set(row[0], row);
  const changes: BatchChanges = { added: [], changed: [], unchanged: [] };
  for (const post of posts) {
    const current = storedById.get(post.id);
    if (current === undefined) changes.added.push(post);
    else if (current[1] !== post.userId || current[2] !== post.title || current[3] !== post.body || current[4] !== post.source) {
      changes.changed.push(post);
    } else changes.unchanged.push(post);
  }
  return changes;
}

/**
 * What SQLite's run writer, which stages a run, does with a batch: stage the new and changed posts, and
 * unstage the ids of the unchanged ones if earlier batches of the attempt staged anything, so that a later
 * unchanged copy of an id drops an earlier staged change and the stored post stays as it is.
 */
export function stagingPlan(batch: readonly Post[], stored: readonly StoredContent[], stagedBefore: boolean): { stage: Post[]; unstage: number[] } {
  const { added, changed, unchanged } = batchChanges(batch, stored);
  return { stage: [...added, ...changed], unstage: stagedBefore ? unchanged.map((post) => post.id) : [] };
}
