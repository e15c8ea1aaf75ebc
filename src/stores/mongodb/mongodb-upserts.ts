import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import { batchChanges, CONTENT_FIELDS, type IdSpan, type StoredContent } from '../post-changes.js';
import type { Post } from '../store.js';

/** The fields of a stored document that the comparison reads; MongoDB's own `_id` is left out. */
const STORED_CONTENT_PROJECTION = { _id: 0, id: 1, userId: 1, title: 1, body: 1, source: 1 } as const;

/**
 * The stored copies of `ids` (whose span is `span`), in one find, as the rows `batchChanges` compares, which
 * ignores ids it did not ask for. Dense ids are read as one range of the index, as SQLite does; FerretDB,
 * which filters every document of the collection itself, answers a range of 1,000 among 10,000 documents in
 * 0.26 s and `$in` of the same 1,000 ids in 0.39 s. A sparse batch is read by `$in`.
 */
export async function readStoredContent(records: Collection<Document>, ids: readonly number[], span: IdSpan): Promise<StoredContent[]> {
  const { min, max, dense } = span;
  const filter = dense ? { id: { $gte: min, $lte: max } } : { id: { $in: [...ids] } };
  const docs = await records.find<Pick<Post, 'id' | (typeof CONTENT_FIELDS)[number]>>(filter, { projection: STORED_CONTENT_PROJECTION }).toArray();
  return docs.map((doc) => [doc.id, doc.userId, doc.title, doc.body, doc.source]);
}

/** The highest `id` the collection holds (one step down the unique index), or NOTHING_STORED when it is empty. */
export async function highestStoredId(records: Collection<Document>): Promise<number> {
  const [top] = await records.find<Pick<Post, 'id'>>({}, { projection: { _id: 0, id: 1 }, sort: { id: -1 }, limit: 1 }).toArray();
  return top?.id ?? NOTHING_STORED;
}

/** The highest stored id of an empty collection: every id is above it. */
export const NOTHING_STORED = Number.NEGATIVE_INFINITY;

/**
 * The writes that bring the stored records in line with a batch (one post per id), given what the store
 * held of those ids when read just before: an insert for a new id, an update for a changed one, nothing for
 * an unchanged one, so a re-run over unchanged data writes nothing. `posts[i]` is the post behind
 * `operations[i]`.
 *
 * The update matches only while some content field still differs, so running it after another writer made
 * the same change is a no-op. It is `updateMany` although `id` is unique, so it matches at most one document:
 * FerretDB 1.24 keeps the SQLite connection of every single-document update that matched open until the whole
 * command ends, and a command with about 100 of them exhausts its pool and hangs; a multi update reads its
 * cursor to the end and releases it. On MongoDB the two are equivalent, except that a batch with multi updates
 * is not a retryable write: after a network error the driver does not resend it, the batch fails, and the run
 * is retried whole, which is safe because these writes are idempotent. An insert that meets an id inserted
 * since the read fails alone with E11000, and the caller plans that post again.
 */
export function plannedWrites(batch: readonly Post[], stored: readonly StoredContent[]): { operations: AnyBulkWriteOperation<Document>[]; posts: Post[] } {
  const { added, changed } = batchChanges(batch, stored);
  const operations: AnyBulkWriteOperation<Document>[] = [];
  // A copy: the driver adds `_id` to the document it inserts.
  for (const post of added) operations.push({ insertOne: { document: { ...post } } });
  for (const post of changed) {
    const { id, ...content } = post;
    const differs = CONTENT_FIELDS.map((field) => ({ [field]: { $ne: post[field] } }));
    operations.push({ updateMany: { filter: { id, $or: differs }, update: { $set: content } } });
  }
  return { operations, posts: [...added, ...changed] };
}
