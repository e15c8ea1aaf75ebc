import { once } from 'node:events';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RunSupersededError, StoreUnavailableError } from '../../errors.js';
import type { WriterReply, WriterRequest, WriterWorkerData } from './sqlite-writer-protocol.js';

/** A request waiting for its reply; replies come in the order requests were sent. */
interface Pending {
  readonly operation: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  /** The run's clock, for a commit: read when the writer thread has merged the records. */
  readonly finishedAt: (() => string) | undefined;
}

/**
 * The main thread's side of the SQLite writer thread (sqlite-writer-worker.ts): sends requests, matches
 * replies, and turns a failure into the contract's StoreUnavailableError, named by `operation`. The thread
 * never keeps the process alive while idle. Should it stop unasked, what waited for it fails, and the next
 * request starts another.
 */
export class SqliteWriterThread {
  readonly #data: WriterWorkerData;
  readonly #pending: Pending[] = [];
  #worker: Worker | undefined;
  /** Why the thread stopped unasked (its uncaught error), to tell whoever waited. */
  #failure: unknown;
  #closed = false;

  constructor(data: WriterWorkerData) {
    this.#data = data;
  }

  request<T>(operation: string, request: WriterRequest, finishedAt?: () => string): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(operation));
    const worker = this.#start();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ operation, resolve: resolve as (value: unknown) => void, reject, finishedAt });
      // A reply is awaited: until it comes, the thread keeps the process alive.
      worker.ref();
      worker.postMessage(request);
    });
  }

  /** Asks for a WAL checkpoint once the thread is free; nothing waits for it. */
  checkpoint(): void {
    if (!this.#closed) this.#worker?.postMessage({ op: 'checkpoint' } satisfies WriterRequest);
  }

  /** Call once the store's other connections are closed: the thread's connection, closed last, removes the WAL. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (!worker) return;
    // Held open until the connection has closed, so shutdown does not cut a checkpoint short.
    worker.ref();
    const exited = once(worker, 'exit');
    worker.postMessage({ op: 'close' } satisfies WriterRequest);
    // A failure here loses nothing: the WAL stays on disk, and the next connection recovers it.
    await exited.catch(() => undefined);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startWorker(new URL(`./sqlite-writer-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url), this.#data);
    worker.on('message', (reply: WriterReply) => this.#onReply(worker, reply));
    // An error is followed by 'exit', which fails what was waiting.
    worker.on('error', (error) => {
      this.#failure = error;
    });
    worker.on('exit', () => this.#onExit(worker));
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #onReply(worker: Worker, reply: WriterReply): void {
    if (reply.kind === 'finished-at') {
      const clock = this.#pending[0]?.finishedAt ?? (() => new Date().toISOString());
      worker.postMessage({ op: 'finished-at', value: clock() } satisfies WriterRequest);
      return;
    }
    const pending = this.#pending.shift();
    if (this.#pending.length === 0) worker.unref();
    if (!pending) return;
    if (reply.kind === 'done') pending.resolve(reply.value);
    // The one refusal of ours the thread sends: a commit that a later run took over from (sqlite-staging.ts).
    else if (reply.code === 'RUN_SUPERSEDED') pending.reject(new RunSupersededError({ atomicRuns: true }));
    else {
      const cause = Object.assign(new Error(reply.name), { name: reply.name, code: reply.code });
      pending.reject(new StoreUnavailableError(pending.operation, { cause, refusal: reply.refusal }));
    }
  }

  #onExit(worker: Worker): void {
    if (this.#worker === worker) this.#worker = undefined;
    // Its connection is gone, and with it the stage of a run in progress.
    const cause = this.#failure ?? new Error('the SQLite writer thread stopped');
    this.#failure = undefined;
    for (const pending of this.#pending.splice(0)) pending.reject(new StoreUnavailableError(pending.operation, { cause }));
  }
}

/**
 * A worker thread running the module at `entry`. Built, that is a .js file Node loads itself. The tests and
 * the benchmark run the TypeScript sources under tsx, whose loader a worker thread does not inherit. There
 * the worker loads its entry through tsx's require hook, which compiles in the thread itself: registering
 * tsx's ESM loader in a worker starts a hooks thread for it, and Node's hooks threads can deadlock
 * (nodejs/node#50948).
 */
function startWorker(entry: URL, workerData: WriterWorkerData): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const boot = `require('tsx/cjs/api').register(); require(${JSON.stringify(fileURLToPath(entry))});`;
  return new Worker(boot, { eval: true, workerData });
}
