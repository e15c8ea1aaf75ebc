import { parseDuration } from '../../src/duration.js';

/** What `npm run soak` does, from SOAK_* environment variables; every one has a default. */
export interface SoakOptions {
  /** Between the two memory samples. */
  readonly durationMs: number;
  /** Load before the first memory sample, so the sample sees the service warmed up (JIT, heap, sockets). */
  readonly warmupMs: number;
  /** As given, for the service's INGESTION_INTERVAL. */
  readonly interval: string;
  readonly intervalMs: number;
  /** A backend name from test/support/backends.ts: sqlite, postgresql, mongodb or dynamodb. */
  readonly store: string;
  readonly posts: number;
  readonly connections: number;
  /** Requests per second over all connections. */
  readonly rate: number;
}

const SOAK_DEFAULTS = Object.freeze({
  SOAK_DURATION: '10m',
  SOAK_WARMUP: '30s',
  SOAK_INTERVAL: '3s',
  SOAK_STORE: 'sqlite',
  SOAK_POSTS: '5000',
  SOAK_CONNECTIONS: '10',
  SOAK_RATE: '500',
});

const STORES = ['sqlite', 'postgresql', 'mongodb', 'dynamodb'];

/** Reads the options; throws one message naming every wrong variable, what it got and what it takes. */
export function readSoakOptions(env: NodeJS.ProcessEnv): SoakOptions {
  const problems: string[] = [];
  const text = (name: keyof typeof SOAK_DEFAULTS) => env[name]?.trim() || SOAK_DEFAULTS[name];
  const duration = (name: 'SOAK_DURATION' | 'SOAK_WARMUP' | 'SOAK_INTERVAL', { zeroAllowed = false } = {}) => {
    const ms = parseDuration(text(name));
    if (ms === undefined || (ms === 0 && !zeroAllowed)) {
      problems.push(`${name}="${text(name)}": expected a Go duration such as 30s, 10m or 1h${zeroAllowed ? ', or 0' : ''}`);
    }
    return ms ?? 0;
  };
  const count = (name: 'SOAK_POSTS' | 'SOAK_CONNECTIONS' | 'SOAK_RATE') => {
    const value = Number(text(name));
    if (!Number.isInteger(value) || value < 1) problems.push(`${name}="${text(name)}": expected a whole number of at least 1`);
    return value;
  };
  const options: SoakOptions = {
    durationMs: duration('SOAK_DURATION'),
    warmupMs: duration('SOAK_WARMUP', { zeroAllowed: true }),
    interval: text('SOAK_INTERVAL'),
    intervalMs: duration('SOAK_INTERVAL'),
    store: text('SOAK_STORE'),
    posts: count('SOAK_POSTS'),
    connections: count('SOAK_CONNECTIONS'),
    rate: count('SOAK_RATE'),
  };
  if (!STORES.includes(options.store)) problems.push(`SOAK_STORE="${options.store}": expected one of ${STORES.join(', ')}`);
  if (problems.length > 0) throw new Error(`invalid soak options: ${problems.join('; ')}`);
  return options;
}
