import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CleanupStack } from './cleanup.js';
import { BARE_SERVER_ENTRY, SERVICE_ENTRY, startHttpChild, type HttpChild, type HttpChildSpec } from './http-child.js';
import { drawsIds, type LoadResult, type LoadSpec } from './load-spec.js';
import { benchPost } from './posts.js';
import { summarize, type Summary } from './stats.js';

const LOAD_WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
/** The serving target is stated at 50 connections. */
export const CONNECTIONS = 50;
const WARMUP_SECONDS = 1;
const PAGE = 10;

export interface Route {
  /** As the table shows it, e.g. `GET /posts?limit=10&offset=999990`. */
  readonly name: string;
  readonly path: string;
  readonly min?: number;
  readonly max?: number;
}

/** The four routes the issue names, over a store holding posts 1..records; `maxOffset` is the store's bound. */
export function serviceRoutes(records: number, maxOffset: number): readonly Route[] {
  const deep = Math.max(0, Math.min(records - PAGE, maxOffset));
  return [
    { name: 'GET /posts/{id} (random id)', path: '/posts/{n}', min: 1, max: records },
    { name: `GET /posts?limit=${PAGE} (offset 0)`, path: `/posts?limit=${PAGE}` },
    { name: `GET /posts?limit=${PAGE}&after= (random)`, path: `/posts?limit=${PAGE}&after={n}`, min: 0, max: Math.max(0, records - PAGE) },
    // Last: its slow queries outlive the load generator (see benchRoutes).
    { name: `GET /posts?limit=${PAGE}&offset=${deep}`, path: `/posts?limit=${PAGE}&offset=${deep}` },
  ];
}

/**
 * The bare route, loaded the two ways the service's routes are: one fixed path, and a random id per request.
 * The load generator shares the cores with the server, and drawing a path per request costs it enough to
 * slow a bare server by a tenth to a fifth; so each route is compared with the bare route loaded the same way.
 */
const BARE_FIXED: Route = { name: 'GET /bare', path: '/bare' };
const BARE_RANDOM: Route = { name: 'GET /bare/{id} (random id)', path: '/bare/{n}', min: 1, max: 1_000_000 };

/** The bare route loaded the way `route` is. */
export function bareRouteFor(route: Route): Route {
  return drawsIds(route.path) ? BARE_RANDOM : BARE_FIXED;
}

export interface LoadFigures {
  readonly requestsPerSecond: Summary;
  /** Over the repeats in which some request completed; null when none did (every request outlasted the run). */
  readonly p50Ms: Summary | null;
  readonly p99Ms: Summary | null;
  /** 2xx answers over every repeat. Requests still in flight when a run ends are not counted, nor timed. */
  readonly completedRequests: number;
  /** Non-2xx answers, socket errors and timeouts over every repeat; a figure with any is suspect. */
  readonly failedRequests: number;
}

export interface RouteResult {
  readonly route: Route;
  readonly figures: LoadFigures;
  /** The bare route loaded the same way, each of its runs right before one of the route's. */
  readonly bare: LoadFigures;
  /** Each run's requests per second over the bare run just before it. */
  readonly ratio: Summary;
}

/** Times the server's start-up `repeats` times, each on a server started afresh and stopped at once. */
export async function benchStartup(spec: HttpChildSpec, repeats: number, cleanup: CleanupStack): Promise<Summary> {
  const startups: number[] = [];
  for (let r = 0; r < repeats; r++) startups.push(await withServer(spec, cleanup, async (child) => child.startupMs));
  return summarize(startups);
}

/**
 * Loads the routes in the order given, each `repeats` times in a row, and right before each run the bare route
 * loaded the same way. The machine's speed drifts over the minutes a benchmark takes (the bare route's three
 * runs at the start of one benchmark ranged from 12,548 to 18,464 req/s), so a baseline measured once, minutes
 * before the routes, moved their ratios with it. Every run is on a server started afresh and from a
 * load-generator process of its own: start-up, JIT and caches vary between processes, and the median covers
 * that. A store can go on working after the server stopped: FerretDB ran a deep-offset load's abandoned
 * queries for about 12 s more, and in a server started meanwhile `GET /status` took up to 1.8 s instead of
 * 5 ms. So no route is measured after another route's load, only after its own.
 */
export async function benchRoutes(spec: HttpChildSpec, routes: readonly Route[], repeats: number, seconds: number, cleanup: CleanupStack): Promise<RouteResult[]> {
  const bareServer = bareSpec();
  const results: RouteResult[] = [];
  for (const route of routes) {
    const bareRoute = bareRouteFor(route);
    const service: LoadResult[] = [];
    const bare: LoadResult[] = [];
    for (let r = 0; r < repeats; r++) {
      bare.push(await withServer(bareServer, cleanup, (child) => load(child, bareRoute, seconds)));
      service.push(await withServer(spec, cleanup, (child) => load(child, route, seconds)));
    }
    const ratio = summarize(service.map((run, i) => run.requestsPerSecond / (bare[i] as LoadResult).requestsPerSecond));
    results.push({ route, figures: figuresOf(service), bare: figuresOf(bare), ratio });
  }
  return results;
}

/** Starts a server, uses it, and stops it whatever happened. */
async function withServer<T>(spec: HttpChildSpec, cleanup: CleanupStack, use: (child: HttpChild) => Promise<T>): Promise<T> {
  const child = await startHttpChild(spec);
  const stop = cleanup.defer(`server ${spec.entry} (pid ${child.pid})`, () => child.stop());
  try {
    return await use(child);
  } finally {
    await stop();
  }
}

function figuresOf(results: readonly LoadResult[]): LoadFigures {
  // autocannon reports 0 ms latencies for a run with no completed request: those runs have no latency.
  const timed = results.filter((r) => r.ok > 0);
  return {
    requestsPerSecond: summarize(results.map((r) => r.requestsPerSecond)),
    p50Ms: timed.length > 0 ? summarize(timed.map((r) => r.p50Ms)) : null,
    p99Ms: timed.length > 0 ? summarize(timed.map((r) => r.p99Ms)) : null,
    completedRequests: results.reduce((sum, r) => sum + r.ok, 0),
    failedRequests: results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
  };
}

const run = promisify(execFile);

/** One load of `route` on the server, from a load-generator process of its own. */
async function load(child: HttpChild, route: Route, seconds: number): Promise<LoadResult> {
  const spec: LoadSpec = { url: child.url, path: route.path, min: route.min, max: route.max, connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS, seconds };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', LOAD_WORKER, JSON.stringify(spec)], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as LoadResult;
}

/** The service as deployed: default settings, logging at info to a file-like sink, on the store given. */
export function serviceSpec(storeEnv: Readonly<Record<string, string>>, upstreamUrl: string): HttpChildSpec {
  return {
    entry: SERVICE_ENTRY,
    portVariable: 'SERVER_PORT',
    // The load comes from one address: RATE_LIMIT would measure the limiter, not the service.
    env: { ...storeEnv, API_ENDPOINT: upstreamUrl, INGESTION_INTERVAL: '24h', RATE_LIMIT: '0' },
    readyPath: '/ready',
  };
}

/** The bare routes answer what /posts/1 answers, byte for byte in size. */
export function bareSpec(): HttpChildSpec {
  const body = JSON.stringify({ ...benchPost(1), ingested_at: '2026-01-01T00:00:00.000Z', source: 'placeholder_api' });
  return { entry: BARE_SERVER_ENTRY, portVariable: 'BENCH_BARE_PORT', env: { BENCH_BARE_BODY: body }, readyPath: '/bare' };
}
