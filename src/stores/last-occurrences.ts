import type { Post } from './store.js';

/**
 * The batch with each id once, holding the values of its last occurrence, in the order of those last
 * occurrences: one statement may not write the same row twice, and the upstream's later copy is the one kept.
 * A batch without repeated ids, the usual case, comes back as it is.
 */
export function lastOccurrences(posts: readonly Post[]): readonly Post[] {
  const latest = new Map<number, Post>();
  for (const post of posts) {
    latest.delete(post.id);
    latest.set(post.id, post);
  }
  return latest.size === posts.length ? posts : [...latest.values()];
}
