import assert from 'node:assert/strict';
import type { Post, Store } from '../../src/stores/store.js';

/** Second `second` of 2026-01-01, UTC, as the stores keep timestamps. */
export function at(second: number): string {
  return new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
}

export function samplePost(id: number, source: string, overrides: Partial<Post> = {}): Post {
  return { userId: 1, id, title: `title ${id}`, body: `body of ${id}`, ingested_at: at(0), source, ...overrides };
}

export interface IngestOptions {
  readonly batchSize?: number;
  readonly recordsRejected?: number;
  readonly durationMs?: number;
}

/** One whole successful run through the contract: begin, write in batches stamped with the start, commit. */
export async function ingestRun(store: Store, runId: string, startedAt: string, posts: readonly Post[], options: IngestOptions = {}) {
  const { batchSize = 100, recordsRejected = 0, durationMs = 1000 } = options;
  const writer = await store.beginRun({ runId, startedAt });
  const stamped = posts.map((p) => ({ ...p, ingested_at: startedAt }));
  for (let i = 0; i < stamped.length; i += batchSize) await writer.write(stamped.slice(i, i + batchSize));
  return writer.commit({ finishedAt: () => new Date(Date.parse(startedAt) + durationMs).toISOString(), recordsIngested: posts.length, recordsRejected });
}

/** Everything a log line or a response could show of an error: message, stack, and the same for each cause. */
export function visibleText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) parts.push(e.message, String(e.stack), String(e));
  return parts.join('\n');
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

/**
 * For a store whose items hold less than any record (DynamoDB, MongoDB): a record whose JSON is exactly
 * `maxRecordBytes`, with the largest ids and the longest source, is stored whole; 2 KiB more, which the
 * bound keeps out of a run, is refused by the store itself. `store` was made with `source` = LONGEST_SOURCE.
 */
export async function assertRecordBoundHolds(store: Store, maxRecordBytes: number, refusal: new (...args: never[]) => Error): Promise<void> {
  const max = 2 ** 31 - 1;
  const json = (body: string) => Buffer.byteLength(JSON.stringify({ userId: max, id: max, title: '', body }));
  const body = 'x'.repeat(maxRecordBytes - json(''));
  assert.equal(json(body), maxRecordBytes);
  const largest = (text: string) => samplePost(max, LONGEST_SOURCE, { userId: max, title: '', body: text });
  await ingestRun(store, 'r1', at(1), [largest(body)]);
  assert.equal((await store.getPost(max))?.body.length, body.length);
  await assert.rejects(ingestRun(store, 'r2', at(2), [largest(`${body}${'y'.repeat(2048)}`)]), refusal);
}

/** The longest SOURCE_NAME the configuration takes. */
export const LONGEST_SOURCE = 's'.repeat(100);

