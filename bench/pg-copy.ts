import { once } from 'node:events';
import type pg from 'pg';

/**
 * `COPY ... FROM STDIN` with the `pg` driver alone. pg-copy-streams is not a dependency, and the raw baseline
 * must be PostgreSQL's real fastest path, not a substitute such as INSERT ... SELECT FROM unnest() (which is what
 * the service itself does). pg runs any object with `submit(connection)` as a query and hands it the protocol
 * messages (pg's documented Submittable); the connection methods used here are the ones pg-copy-streams uses.
 */
interface CopyConnection {
  readonly stream: NodeJS.WritableStream & { readonly writableNeedDrain: boolean };
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

class CopyFromStdin implements pg.Submittable {
  readonly #text: string;
  readonly #chunks: Iterable<string>;
  readonly #settle: (error?: Error) => void;
  #error: Error | undefined;

  constructor(text: string, chunks: Iterable<string>, settle: (error?: Error) => void) {
    this.#text = text;
    this.#chunks = chunks;
    this.#settle = settle;
  }

  submit(connection: unknown): void {
    (connection as CopyConnection).query(this.#text);
  }

  /** The server is ready for data: send every chunk, waiting for the socket to drain so memory stays flat. */
  async handleCopyInResponse(connection: CopyConnection): Promise<void> {
    try {
      for (const chunk of this.#chunks) {
        if (this.#error) return;
        connection.sendCopyFromChunk(Buffer.from(chunk, 'utf8'));
        if (connection.stream.writableNeedDrain) await once(connection.stream, 'drain');
      }
      connection.endCopyFrom();
    } catch (error) {
      connection.sendCopyFail(error instanceof Error ? error.message : 'copy source failed');
    }
  }

  handleCommandComplete(): void {}

  /** An error from the server (it then sends ReadyForQuery) or from the socket (it sends nothing more). */
  handleError(error: Error): void {
    this.#error = error;
    this.#settle(error);
  }

  handleReadyForQuery(): void {
    this.#settle(this.#error);
  }
}

/** Runs one `COPY ... FROM STDIN` (text format) that reads `chunks`, each holding whole lines. */
export function copyFrom(client: pg.ClientBase, text: string, chunks: Iterable<string>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    client.query(new CopyFromStdin(text, chunks, settle));
  });
}

/** One value in COPY's text format: backslash, newline, carriage return and tab escaped. */
export function copyText(value: string | number): string {
  return String(value).replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] as string);
}
