import type { Post, RunWriter } from '../stores/store.js';

/**
 * Keeps up to the writer's `writesInFlight` writes in flight while the next batch is parsed and validated, so
 * that the store (on the other side of a connection, or on SQLite's writer thread) works while this thread
 * parses. Writes are called in order, and a store that allows only one sees them one at a time. A write's
 * failure surfaces at the next write that has to wait for it, or at drain().
 */
export class WriteAhead {
  readonly #writer: RunWriter;
  /** Oldest first. */
  readonly #inFlight: Promise<void>[] = [];

  constructor(writer: RunWriter) {
    this.#writer = writer;
  }

  async write(batch: readonly Post[]): Promise<void> {
    while (this.#inFlight.length >= this.#writer.writesInFlight) await this.#inFlight.shift();
    const write = this.#writer.write(batch);
    // Handled here until it is awaited, so a failure while the next batch parses is never unhandled.
    write.catch(() => undefined);
    this.#inFlight.push(write);
  }

  async drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
  }

  /** Waits for every write in flight to end, whatever its outcome; drain() or write() report a failure. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#inFlight);
  }
}
