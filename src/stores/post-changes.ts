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

export interface IdSpan {
  readonly min: number;
  readonly max: number;
  /**
   * Whether the ids lie close together (fewer than two slots an id between the lowest and the highest), as
   * upstreams mostly send them: then one range read of the index finds their stored copies faster than a
   * lookup per id, and reads few others.
   */
  readonly dense: boolean;
}

/** The span of a batch's ids (at least one), for choosing how to read their stored copies. */
export function idSpan(ids: readonly number[]): IdSpan {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const id of ids) {
    if (id < min) min = id;
    if (id > max) max = id;
  }
  return { min, max, dense: max - min < 2 * ids.length };
}

/** The highest staged id of an attempt that has staged nothing yet. */
export const NOTHING_STAGED = Number.NEGATIVE_INFINITY;

export interface StagingPlan {
  /** New posts to stage, and changed ones: the merge inserts the first and updates the second. */
  readonly added: Post[];
  readonly changed: Post[];
  /** Ids to take out of the stage before staging: an earlier batch of the attempt may have staged them. */
  readonly leaving: number[];
  /** The highest id staged once this batch is. */
  readonly highestStaged: number;
}

/**
 * What a store that stages a run (SQLite, PostgreSQL) does with a batch (one post per id), given the stored
 * copies of its ids and the highest id the attempt has staged so far. Every id of the batch that may be in
 * the stage leaves it first: a later copy replaces an earlier one, and a later unchanged copy drops an earlier
 * staged change, so the stored post stays as it is. No id above the highest staged can be in the stage,
 * which, from an upstream listing ids in order, is every id of every batch, and then nothing leaves.
 */
export function stagingPlan(batch: readonly Post[], stored: readonly StoredContent[], highestStaged: number): StagingPlan {
  const { added, changed } = batchChanges(batch, stored);
  const leaving = batch.map((post) => post.id).filter((id) => id <= highestStaged);
  let highest = highestStaged;
  for (const posts of [added, changed]) for (const { id } of posts) if (id > highest) highest = id;
  return { added, changed, leaving, highestStaged: highest };
}
