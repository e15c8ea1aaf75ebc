import autocannon from 'autocannon';

export interface ApiLoadOptions {
  readonly url: string;
  /** autocannon needs an end; `stop()` ends the load sooner. */
  readonly maxDurationMs: number;
  readonly connections: number;
  /** Requests per second over all connections. */
  readonly rate: number;
  /** Posts 1..postCount are stored, so every path asked for exists and anything but a 2xx is an error. */
  readonly postCount: number;
}

export interface ApiLoad {
  /** Answers received so far, of any status. */
  answered(): number;
  stop(): void;
  readonly result: PromiseLike<autocannon.Result>;
}

/** Seconds without an answer before autocannon counts a timeout. */
const REQUEST_TIMEOUT_S = 10;
/** A full page, as most clients ask. */
const PAGE = 10;

const randomId = (max: number) => 1 + Math.floor(Math.random() * max);

/**
 * The reads a client of this API makes, weighted: single posts by id, keyset pages from anywhere in the
 * data, the first page by offset, and the status.
 */
function nextPath(postCount: number): string {
  const pick = Math.random();
  if (pick < 0.4) return `/posts/${randomId(postCount)}`;
  if (pick < 0.7) return `/posts?after=${randomId(Math.max(1, postCount - PAGE))}&limit=${PAGE}`;
  if (pick < 0.9) return `/posts?limit=${PAGE}`;
  return '/status';
}

/** Starts autocannon against the API at a steady rate until `stop()`; `result` settles when it has ended. */
export function startApiLoad(options: ApiLoadOptions): ApiLoad {
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    overallRate: options.rate,
    duration: options.maxDurationMs / 1000,
    timeout: REQUEST_TIMEOUT_S,
    requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: nextPath(options.postCount) }) }],
  });
  let answered = 0;
  instance.on('response', () => {
    answered += 1;
  });
  return { answered: () => answered, stop: () => instance.stop(), result: instance };
}
