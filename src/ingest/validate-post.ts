import { clipped } from '../log-safe.js';
import type { Post } from '../stores/store.js';
import { NotUtf8Element, OversizedElement } from '../upstream/json-array-elements.js';

/** The largest id and userId accepted: PostgreSQL `integer`, and the bound every store is tested at. */
export const MAX_ID = 2 ** 31 - 1;

export type PostValidation =
  | { readonly ok: true; readonly post: Post }
  | { readonly ok: false; readonly reason: string };

export interface Stamp {
  /** The run's start, RFC 3339 UTC. */
  readonly ingestedAt: string;
  readonly source: string;
}

/**
 * Checks one upstream element against the seed's record shape and, when it holds, returns the stored post:
 * the four upstream fields (others are dropped) plus the run's `ingested_at` and `source`. The reason of a
 * rejection says which field is wrong and what it got, short enough for a log line.
 */
export function validatePost(raw: unknown, stamp: Stamp): PostValidation {
  if (raw instanceof OversizedElement) {
    return { ok: false, reason: `record is ${raw.bytes} bytes of JSON, more than MAX_RECORD_BYTES (${raw.maxBytes})` };
  }
  if (raw instanceof NotUtf8Element) {
    return { ok: false, reason: 'record holds bytes that are not UTF-8 (JSON between systems is UTF-8: RFC 8259)' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: `record must be a JSON object, got ${describe(raw)}` };
  }
  const record = raw as Record<string, unknown>;
  for (const field of ['id', 'userId'] as const) {
    const value = record[field];
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_ID) {
      return { ok: false, reason: `${field} must be an integer from 1 to ${MAX_ID}, got ${describe(value)}` };
    }
  }
  for (const field of ['title', 'body'] as const) {
    const value = record[field];
    if (typeof value !== 'string') return { ok: false, reason: `${field} must be a string, got ${describe(value)}` };
    // PostgreSQL text cannot hold U+0000; rejecting it everywhere keeps every store byte for byte alike.
    if (value.includes('\u0000')) return { ok: false, reason: `${field} contains a NUL character` };
    // A lone surrogate (`"\ud800"` in the JSON) is no Unicode character: each store's UTF-8 encoding would swap
    // it for one or three U+FFFD, or keep it, so what is served would not be what was sent, nor alike by store.
    if (!value.isWellFormed()) return { ok: false, reason: `${field} contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff)` };
  }
  return {
    ok: true,
    post: {
      userId: record.userId as number,
      id: record.id as number,
      title: record.title as string,
      body: record.body as string,
      ingested_at: stamp.ingestedAt,
      source: stamp.source,
    },
  };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  // JSON.parse reads 1e400 as Infinity, which JSON.stringify writes as null; -0 would read as 0.
  if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY) return 'a number beyond a double\'s range';
  if (Object.is(value, -0)) return '-0';
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) return `a number beyond 2^53, read as ${String(value)}`;
  const text = JSON.stringify(value);
  return text.length > 40 ? `${clipped(text, 40)}…` : text;
}
