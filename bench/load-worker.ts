import { createRequire } from 'node:module';
import { drawsIds, ID_PLACEHOLDER, type LoadResult, type LoadSpec } from './load-spec.js';

/**
 * The load generator, run as its own process (serve-bench.ts forks it) so that it never shares an event loop
 * with the servers it measures. Reads a LoadSpec as JSON from argv[2], warms up, measures, and prints one
 * LoadResult as JSON on stdout.
 */

// autocannon ships no type declarations; these are the parts of its API used here.
interface AutocannonRequest {
  method: string;
  path?: string;
  setupRequest?: (request: { path: string }) => { path: string };
}
interface AutocannonResult {
  readonly duration: number;
  readonly '2xx': number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly latency: { readonly p50: number; readonly p99: number };
}
type Autocannon = (options: { url: string; connections: number; duration: number; requests: AutocannonRequest[] }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function measure(spec: LoadSpec, seconds: number): Promise<AutocannonResult> {
  const { min = 0, max = 0 } = spec;
  const request: AutocannonRequest = drawsIds(spec.path)
    ? {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: spec.path.replace(ID_PLACEHOLDER, String(min + Math.floor(Math.random() * (max - min + 1)))) }),
      }
    : { method: 'GET', path: spec.path };
  return autocannon({ url: spec.url, connections: spec.connections, duration: seconds, requests: [request] });
}

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
// JIT, page caches and connection pools warm up here, outside the measured window.
await measure(spec, spec.warmupSeconds);
const result = await measure(spec, spec.seconds);
const output: LoadResult = {
  requestsPerSecond: result['2xx'] / result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  ok: result['2xx'],
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
