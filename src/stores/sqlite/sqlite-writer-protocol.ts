import type { LeaseRequest, RunFailure, RunStart, StoreOptions } from '../store.js';
import type { PostColumns } from './post-columns.js';

/** What the main thread asks of the writer thread (sqlite-writer-worker.ts), and what it answers. */

export interface WriterWorkerData {
  readonly path: string;
  readonly options: StoreOptions;
}

export type WriterRequest =
  | { readonly op: 'migrate' }
  | { readonly op: 'recover'; readonly finishedAt: string }
  | { readonly op: 'acquire-lease'; readonly request: LeaseRequest }
  | { readonly op: 'renew-lease'; readonly owner: string; readonly expiresAt: string }
  | { readonly op: 'release-lease'; readonly owner: string; readonly lastStartedAt: string | null }
  | { readonly op: 'begin'; readonly run: RunStart }
  /** A run's requests name it: one that another run's `begin` replaced is refused, not mixed in. */
  | { readonly op: 'write'; readonly runId: string; readonly posts: PostColumns }
  | { readonly op: 'discard'; readonly runId: string }
  | { readonly op: 'commit'; readonly runId: string; readonly recordsIngested: number; readonly recordsRejected: number }
  | { readonly op: 'abort'; readonly runId: string; readonly failure: RunFailure }
  /** No reply. */
  | { readonly op: 'checkpoint' }
  /** No reply: the thread exits once its connection is closed. */
  | { readonly op: 'close' }
  /** The answer to a `finished-at` question, which the commit in progress is waiting for. */
  | { readonly op: 'finished-at'; readonly value: string };

export type WriterReply =
  | { readonly kind: 'done'; readonly value?: unknown }
  /**
   * The driver's error, by name and code only: what the main thread logs, without SQL or paths; `refusal`
   * says, in our words, why it will fail again (sqlite-refusals.ts), which SQLite's message alone tells.
   */
  | { readonly kind: 'failed'; readonly name: string; readonly code: string | undefined; readonly refusal: string | undefined }
  /** The commit has merged the records and asks for the run's end, to record it in the same transaction. */
  | { readonly kind: 'finished-at' };
