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
