import { createServer } from 'node:net';

/** A port nothing listens on right now (the OS picks it); also what tests use as an unreachable server. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolveListen));
  const address = server.address();
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}
