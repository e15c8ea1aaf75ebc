import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy for outage tests: clients connect to `port` on 127.0.0.1 and are piped to the target. `cut()`
 * destroys every open connection and stops listening, so new connections are refused (ECONNREFUSED), as when
 * a database server is down; `restore()` listens again on the same port, once it is free. Works for any protocol.
 */
export interface TcpProxy {
  readonly port: number;
  /** Drops every connection at once and refuses new ones until `restore()`. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /**
   * Stops forwarding bytes either way, on open connections and new ones, without closing any: a server that
   * froze (a stopped process, a stalled host). `thaw()` forwards what was held and carries on.
   */
  freeze(): void;
  thaw(): void;
  /** Drops every connection and stops for good. */
  close(): Promise<void>;
}

type Pair = readonly [client: Socket, upstream: Socket];

const forward = ([client, upstream]: Pair) => {
  client.pipe(upstream);
  upstream.pipe(client);
};
const hold = ([client, upstream]: Pair) => {
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
};

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let frozen = false;
  const server = createServer((client) => {
    const pair: Pair = [client, createConnection({ host: targetHost, port: targetPort })];
    pairs.add(pair);
    // Either side failing or ending ends the pair, as a dead link would.
    for (const socket of pair) {
      socket.on('error', () => closePair(pair));
      socket.on('close', () => closePair(pair));
    }
    if (frozen) hold(pair);
    else forward(pair);
  });
  const closePair = (pair: Pair) => {
    pairs.delete(pair);
    for (const socket of pair) socket.destroy();
  };

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  const dropAll = () => {
    for (const pair of pairs) closePair(pair);
  };

  await listen(0);
  const port = addressPort(server);
  return {
    port,
    async cut() {
      const stopped = stopListening();
      dropAll();
      await stopped;
    },
    async restore() {
      // While cut, the port is free, and the other test file running meanwhile may get it as the local port of
      // a connection of its own. Such connections are short: wait for the port rather than fail.
      for (const deadline = Date.now() + 30_000; !server.listening; ) {
        try {
          await listen(port);
        } catch (error) {
          if ((error as { code?: string }).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    },
    async close() {
      const stopped = stopListening();
      dropAll();
      await stopped;
    },
    freeze() {
      frozen = true;
      for (const pair of pairs) hold(pair);
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) forward(pair);
    },
  };
}

function addressPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy is not listening on TCP');
  return address.port;
}
