import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchPost } from './posts.js';

/** Records serialised per write: big enough to keep the upstream cheap, small enough to hold nothing. */
const RECORDS_PER_CHUNK = 500;

export interface BenchUpstream {
  /** The URL answering `count` posts as one JSON array; the service's API_ENDPOINT. */
  urlFor(count: number): string;
  /**
   * Renders the answer for `count` once, ahead of the measured runs, and serves those bytes from then on: the
   * response costs the upstream a socket write per chunk, so the service, not the upstream, sets the pace.
   * Only the latest count is kept (1,000,000 posts are about 250 MB here, outside the measured process).
   */
  prepare(count: number): void;
  close(): Promise<void>;
}

/**
 * A local upstream: `GET /posts?count=N` answers posts 1..N as ONE JSON array, in chunks paced by the socket
 * (it waits for 'drain'). A prepared count is sent from bytes rendered beforehand; any other is generated as
 * it is sent (the service's start-up and serving runs use those). No Content-Length, as a streaming API.
 */
export async function startBenchUpstream(): Promise<BenchUpstream> {
  let prepared: { readonly count: number; readonly chunks: readonly Buffer[] } | undefined;
  const server = createServer((req, res) => {
    const count = Number(new URL(req.url ?? '/', 'http://upstream').searchParams.get('count'));
    if (!Number.isSafeInteger(count) || count < 0) return void res.writeHead(400).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunks = prepared?.count === count ? prepared.chunks : renderChunks(count);
    sendChunks(res, chunks).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (count) => `http://127.0.0.1:${port}/posts?count=${count}`,
    prepare: (count) => {
      if (prepared?.count === count) return;
      prepared = undefined;
      prepared = { count, chunks: [...renderChunks(count)].map((chunk) => Buffer.from(chunk, 'utf8')) };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The array's text in pieces of RECORDS_PER_CHUNK posts, made as they are asked for. */
function* renderChunks(count: number): Generator<string> {
  yield '[';
  for (let first = 1; first <= count; first += RECORDS_PER_CHUNK) {
    const last = Math.min(count, first + RECORDS_PER_CHUNK - 1);
    const parts: string[] = [];
    for (let id = first; id <= last; id++) parts.push(JSON.stringify(benchPost(id)));
    yield (first > 1 ? ',' : '') + parts.join(',');
  }
  yield ']';
}

async function sendChunks(res: ServerResponse, chunks: Iterable<string | Buffer>): Promise<void> {
  // A client that hangs up mid-body never drains: the abort ends the wait, and the catch above the socket.
  const closed = new AbortController();
  res.once('close', () => closed.abort());
  for (const chunk of chunks) {
    if (!res.write(chunk)) await once(res, 'drain', { signal: closed.signal });
  }
  res.end();
}
