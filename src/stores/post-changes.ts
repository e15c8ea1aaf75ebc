import type { Post } from './store.js';

/** The fields whose difference makes a record "changed"; `ingested_at` is not one, it records the change. */
export const CONTENT_FIELDS = ['userId', 'title', 'body', 'source'] as const;

/** What a store holds of a record's content, read back to compare a batch against before writing it. */
export type StoredContent = Pick<Post, 'id' | (typeof CONTENT_FIELDS)[number]>;

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
  for (const record of stored) storedById.set(record.id, record);
  const changes: BatchChanges = { added: [], changed: [], unchanged: [] };
  for (const post of posts) {
    const current = storedById.get(post.id);
    if (current === undefined) changes.added.push(post);
    else if (current.userId !== post.userId || current.title !== post.title || current.body !== post.body || current.source !== post.source) {
      changes.changed.push(post);
    } else changes.unchanged.push(post);
  }
  return changes;
}
