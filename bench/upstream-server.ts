import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchPost } from './posts.js';

/** Records serialised per write: big enough to keep the upstream cheap, small enough to hold nothing. */
const RECORDS_PER_CHUNK = 500;

export interface BenchUpstream {
  /** The URL answering `count` posts as one JSON array; the service's API_ENDPOINT. */
  urlFor(count: number): string;
  close(): Promise<void>;
}

/**
 * A local upstream: `GET /posts?count=N` answers posts 1..N as ONE JSON array, generated as it is sent and
 * paced by the socket (it waits for 'drain'), so a 250 MB response never exists in memory here and the
 * measured service, not this server, decides how fast the bytes flow. No Content-Length, as a streaming API.
 */
export async function startBenchUpstream(): Promise<BenchUpstream> {
  const server = createServer((req, res) => {
    const count = Number(new URL(req.url ?? '/', 'http://upstream').searchParams.get('count'));
    if (!Number.isSafeInteger(count) || count < 0) return void res.writeHead(400).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    streamPosts(res, count).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (count) => `http://127.0.0.1:${port}/posts?count=${count}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function streamPosts(res: ServerResponse, count: number): Promise<void> {
  // A client that hangs up mid-body never drains: the abort ends the wait, and the catch above the socket.
  const closed = new AbortController();
  res.once('close', () => closed.abort());
  res.write('[');
  for (let first = 1; first <= count; first += RECORDS_PER_CHUNK) {
    const last = Math.min(count, first + RECORDS_PER_CHUNK - 1);
    const parts: string[] = [];
    for (let id = first; id <= last; id++) parts.push(JSON.stringify(benchPost(id)));
    const chunk = (first > 1 ? ',' : '') + parts.join(',');
    if (!res.write(chunk)) await once(res, 'drain', { signal: closed.signal });
  }
  res.end(']');
}
