import type { AnyBulkWriteOperation, Document } from 'mongodb';
import type { Post } from '../store.js';

/** The fields whose difference makes a record "changed"; `ingested_at` is not one, it records the change. */
const CONTENT_FIELDS = ['userId', 'title', 'body', 'source'] as const;

/** Keeps the last occurrence of each id, in the order of those last occurrences. */
export function lastOccurrences(posts: readonly Post[]): Post[] {
  const latest = new Map<number, Post>();
  for (const post of posts) {
    latest.delete(post.id);
    latest.set(post.id, post);
  }
  return [...latest.values()];
}

/**
 * Two writes per record, each correct whatever order they run in, so the batch can go unordered:
 *
 * 1. update the record only if some content field differs (an unchanged record is not matched, so it keeps its
 *    values and its `ingested_at`);
 * 2. upsert on `{ id }` with `$setOnInsert` only: inserts a missing record, and is a no-op on an existing one.
 *
 * One upsert whose filter also says "something differs" would, for an unchanged record, match nothing and try
 * to INSERT a second document with the same id (E11000 on the unique index). An update pipeline with `$cond`
 * per field would do it in one write on MongoDB 4.2+, but FerretDB rejects pipelines in updates.
 *
 * Both are `updateMany` although `id` is unique, so each matches at most one document: FerretDB 1.24 keeps the
 * SQLite connection of every single-document update that matched open until the whole command ends, and a
 * command with about 100 of them exhausts its pool and hangs; a multi update reads its cursor to the end and
 * releases it. On MongoDB the two are equivalent, except that a batch with multi updates is not a retryable
 * write: after a network error the driver does not resend it, the batch fails, and the run is retried whole,
 * which is safe because these writes are idempotent.
 */
export function upsertOperations(post: Post): AnyBulkWriteOperation<Document>[] {
  const { id, ...content } = post;
  const differs = CONTENT_FIELDS.map((field) => ({ [field]: { $ne: post[field] } }));
  return [
    { updateMany: { filter: { id, $or: differs }, update: { $set: content } } },
    { updateMany: { filter: { id }, update: { $setOnInsert: content }, upsert: true } },
  ];
}

/** Which record an operation of `upsertOperations` (flattened, two per record) belongs to. */
export function recordIndexOf(operationIndex: number): number {
  return Math.floor(operationIndex / 2);
}
