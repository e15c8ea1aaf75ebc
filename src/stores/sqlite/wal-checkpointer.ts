import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** SQLite's default: a commit that leaves the WAL longer than this many pages checkpoints it in place. */
const AUTOCHECKPOINT_PAGES = 1000;

// Plain JavaScript, evaluated: a TypeScript file of its own would not load in a worker under the tests' loader.
// Any error ends the worker, and the writer then checkpoints as SQLite does by default.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  db.pragma('wal_checkpoint(PASSIVE)');
});
`;

/**
 * Copies the WAL back into the database file on a worker thread with its own connection. By default SQLite
 * does it in the connection that commits, once the WAL passes 1,000 pages: after a run that wrote 1,000,000
 * records that took about a second, during which the event loop served nothing. SQLite's WAL documentation
 * offers this instead: turn automatic checkpoints off and run them from another thread. A PASSIVE
 * checkpoint waits for no reader or writer. The worker starts with the first request, and is the last
 * connection to close, so it also makes the final checkpoint that removes the WAL file.
 */
export class WalCheckpointer {
  readonly #writer: Database.Database;
  readonly #path: string;
  #worker: Worker | undefined;
  /** Set once the worker failed or the checkpointer closed: no checkpoint is asked for again. */
  #stopped = false;

  constructor(writer: Database.Database, path: string) {
    this.#writer = writer;
    this.#path = path;
    writer.pragma('wal_autocheckpoint = 0');
  }

  /** Checkpoints soon. The worker takes requests in turn, and one that finds nothing to copy costs next to nothing. */
  request(): void {
    if (this.#stopped) return;
    this.#start().postMessage('checkpoint');
  }

  /** Call once the store's own connections are closed. */
  async close(): Promise<void> {
    this.#stopped = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    // Held open until the worker's connection has closed, so shutdown does not cut a checkpoint short.
    worker.ref();
    const exited = once(worker, 'exit');
    worker.postMessage('close');
    // A failure here loses nothing: the WAL stays on disk, and the next checkpoint copies it.
    await exited.catch(() => undefined);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.#path } });
    worker.on('error', () => this.#checkpointInPlace());
    // Never what keeps the process alive.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  /** The worker failed: the writer checkpoints at commit again, as SQLite does unless told otherwise. */
  #checkpointInPlace(): void {
    this.#stopped = true;
    this.#worker = undefined;
    if (this.#writer.open) this.#writer.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
