import { makePosts } from '../../test/support/fake-upstream.js';

/** Revisions cycle through this many slices of the posts, each slice one id residue. */
const SLICES = 100;

/**
 * The upstream's posts at a revision: the titles of one slice of them (ids ≡ revision mod 100, 1%) carry the
 * revision. Each new revision changes that slice and restores the previous one, so a run after it updates
 * about 2% of the records, and re-stamps them, rather than finding nothing to do.
 */
export function postsAtRevision(count: number, revision: number): Record<string, unknown>[] {
  return makePosts(count).map((post) =>
    revision > 0 && Number(post.id) % SLICES === revision % SLICES ? { ...post, title: `${String(post.title)} (revision ${revision})` } : post,
  );
}
