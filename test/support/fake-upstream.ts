import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

/** `deflate-raw` is bare DEFLATE sent as `deflate`, as some servers do. */
const COMPRESS = { gzip: gzipSync, deflate: deflateSync, 'deflate-raw': deflateRawSync, br: brotliCompressSync } as const;

/** What the fake upstream does for one request. */
export type Behaviour =
  | { readonly kind: 'posts' }
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'raw'; readonly body: string | Buffer }
  /** Sends part of the body, promising more with Content-Length, then cuts the connection. */
  | { readonly kind: 'truncated' }
  /** Accepts the request and never answers. */
  | { readonly kind: 'stall' }
  /** Sends the headers and the start of the body, then goes silent for ever. */
  | { readonly kind: 'stall-body' }
  /** Sends the posts but the array's closing bracket, which follows once `until` settles. */
  | { readonly kind: 'held'; readonly until: Promise<void> }
  /** Serves the posts compressed, with that Content-Encoding; `corrupt` cuts the compressed bytes in half. */
  | { readonly kind: 'compressed'; readonly encoding: keyof typeof COMPRESS; readonly corrupt?: boolean }
  /** Streams `bytes` of a valid JSON array, without Content-Length. */
  | { readonly kind: 'huge'; readonly bytes: number };

export interface FakeUpstream {
  readonly url: string;
  /** Arrival time (ms since epoch) of every request so far. */
  readonly requests: number[];
  /** The headers of every request so far. */
  readonly headers: IncomingHttpHeaders[];
  setPosts(posts: readonly unknown[]): void;
  /** Queues behaviours, one per request in order; once used up, the upstream serves the posts. */
  enqueue(...behaviours: Behaviour[]): void;
  close(): Promise<void>;
}

export function makePosts(count: number, firstId = 1): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    userId: 1 + ((firstId + i) % 10),
    id: firstId + i,
    title: `title ${firstId + i}`,
    body: `body ${firstId + i}\nwith a second line`,
  }));
}

/** An upstream HTTP server on 127.0.0.1 that the tests steer: failures, 429s, stalls, bad bodies. */
export async function startFakeUpstream(initialPosts: readonly unknown[] = makePosts(100)): Promise<FakeUpstream> {
  let posts = initialPosts;
  const queue: Behaviour[] = [];
  const requests: number[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const open = new Set<ServerResponse>();

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push(Date.now());
    headers.push(req.headers);
    open.add(res);
    res.on('close', () => open.delete(res));
    req.resume();
    const behaviour = queue.shift() ?? { kind: 'posts' };
    switch (behaviour.kind) {
      case 'posts':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(posts));
      case 'status':
        return void res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers }).end('{"error":"steered"}');
      case 'raw':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(behaviour.body);
      case 'truncated': {
        const body = JSON.stringify(posts);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        res.write(body.slice(0, Math.floor(body.length / 2)));
        return void setTimeout(() => res.socket?.destroy(), 20);
      }
      case 'stall':
        return;
      case 'stall-body':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.write('[{"userId":1,"id":1,"title":"t","body":"b"},');
      case 'held': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON.stringify(posts).slice(0, -1));
        return void behaviour.until.then(() => res.end(']'));
      }
      case 'compressed': {
        const compressed = COMPRESS[behaviour.encoding](Buffer.from(JSON.stringify(posts)));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': behaviour.encoding === 'deflate-raw' ? 'deflate' : behaviour.encoding });
        return void res.end(behaviour.corrupt ? compressed.subarray(0, compressed.length >> 1) : compressed);
      }
      case 'huge':
        return streamHuge(res, behaviour.bytes);
    }
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/posts`,
    requests,
    headers,
    setPosts: (next) => {
      posts = next;
    },
    enqueue: (...behaviours) => {
      queue.push(...behaviours);
    },
    close: async () => {
      for (const res of open) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function streamHuge(res: ServerResponse, bytes: number): void {
  const record = JSON.stringify({ userId: 1, id: 1, title: 'x'.repeat(900), body: 'y' }) + ',';
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('[');
  let sent = 1;
  const pump = () => {
    while (sent < bytes) {
      sent += record.length;
      if (!res.write(record)) return void res.once('drain', pump);
    }
    res.end(record.slice(0, -1) + ']');
  };
  res.on('error', () => undefined);
  pump();
}
