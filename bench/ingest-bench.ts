import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageType } from '../src/config.js';
import type { Run } from '../src/stores/store.js';
import type { BackendHarness } from '../test/support/backends.js';
import { startService, type ServiceProcess } from '../test/support/service-process.js';
import type { CleanupStack } from './cleanup.js';
import type { BenchOptions, SizeName } from './options.js';
import { readProcessMemory, resetPeakRss } from '../test/support/process-memory.js';
import { rawWriter } from './raw-writers.js';
import type { MemoryRow, ReingestionRow, ThroughputRow } from './results.js';
import { summarize } from './stats.js';
import type { BenchUpstream } from './upstream-server.js';

export interface IngestionResults {
  readonly throughput: readonly ThroughputRow[];
  readonly reingestion: ReingestionRow;
  readonly memory: readonly MemoryRow[];
  /** A table left holding the large size, for the serving scenario. */
  readonly servingTable: string;
}

/** Every run at one size on one store. */
interface SizeRuns {
  readonly records: number;
  readonly rawMs: number[];
  readonly first: IngestRun[];
  /** The re-ingestions, one per first run (large size only). */
  readonly second: IngestRun[];
  /** Peak RSS while paging through the records (large size only). */
  readonly pagingPeaks: number[];
  /** The service's table in the last repeat. */
  table: string;
}

/**
 * Scenarios 1 to 3 on one store. Each repeat writes the raw baseline into a new table, then has the service
 * ingest into another new table; at the large size the service is then restarted on that table, and its boot
 * run is the re-ingestion of unchanged data. Baseline and service alternate, so a change in the machine's load
 * during the run hits both alike. The memory scenario also pages through the large table.
 */
export async function benchIngestion(store: StorageType, harness: BackendHarness, upstream: BenchUpstream, options: BenchOptions, cleanup: CleanupStack, progress: (line: string) => void): Promise<IngestionResults> {
  const raw = rawWriter(store, harness);
  const runSize = async (size: SizeName): Promise<SizeRuns> => {
    const records = options.sizes[store][size];
    const runs: SizeRuns = { records, rawMs: [], first: [], second: [], pagingPeaks: [], table: '' };
    upstream.prepare(records);
    for (let r = 0; r < options.repeats; r++) {
      runs.rawMs.push(await raw.write(`raw_${size}_${r}`, records));
      runs.table = `bench_${size}_${r}`;
      const target = { harness, table: runs.table, upstreamUrl: upstream.urlFor(records) };
      const pageThrough = size === 'large'
        ? async (service: ServiceProcess) => void runs.pagingPeaks.push(await peakRssWhilePaging(service, records))
        : undefined;
      const first = await measureIngestion(target, cleanup, pageThrough);
      if (first.recordsIngested !== records) throw new Error(`the service ingested ${first.recordsIngested} of ${records} records`);
      runs.first.push(first);
      let line = `${store} ${size} ${r + 1}/${options.repeats}: raw ${rate(records, runs.rawMs[r] as number)}/s, service ${rate(records, first.endToEndMs)}/s`;
      if (size === 'large') {
        const second = await measureIngestion(target, cleanup, undefined, 'ask');
        runs.second.push(second);
        line += `, second run ${seconds(second.endToEndMs)} s (first ${seconds(first.endToEndMs)} s)`;
      }
      progress(line);
    }
    return runs;
  };
  const small = await runSize('small');
  const large = await runSize('large');

  const throughput = (size: SizeName, runs: SizeRuns): ThroughputRow => ({
    store,
    size,
    records: runs.records,
    service: summarize(runs.first.map((run) => perSecond(runs.records, run.endToEndMs))),
    reportedMs: summarize(runs.first.map((run) => run.reportedMs)),
    endToEndMs: summarize(runs.first.map((run) => run.endToEndMs)),
    rawPath: raw.path,
    raw: summarize(runs.rawMs.map((ms) => perSecond(runs.records, ms))),
  });
  const baseline = { baselineRecords: small.records, baselineBytes: summarize(small.first.map((run) => run.peakRssBytes)) };
  const memory: MemoryRow[] = [{ store, scenario: 'ingest', records: large.records, peakBytes: summarize(large.first.map((run) => run.peakRssBytes)), ...baseline }];
  if (large.pagingPeaks.length > 0) memory.push({ store, scenario: 'paging', records: large.records, peakBytes: summarize(large.pagingPeaks), ...baseline });
  return {
    throughput: [throughput('small', small), throughput('large', large)],
    reingestion: {
      store,
      records: large.records,
      firstMs: summarize(large.first.map((run) => run.endToEndMs)),
      secondMs: summarize(large.second.map((run) => run.endToEndMs)),
      speedup: summarize(large.first.map((run, i) => run.endToEndMs / (large.second[i] as IngestRun).endToEndMs)),
      changedOnSecond: large.second.map((run) => run.recordsChanged),
    },
    memory,
    servingTable: large.table,
  };
}

const perSecond = (records: number, ms: number) => (records * 1000) / ms;
const rate = (records: number, ms: number) => Math.round(perSecond(records, ms)).toLocaleString('en-US');
const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** One ingestion run of the built service, seen from outside. */
export interface IngestRun {
  /**
   * From the run's start (its `started_at`, stamped before anything is fetched) to the service logging it
   * succeeded, which it does after the store committed the records and the status: fetch, parse, validate,
   * transform, upsert and status, end to end.
   */
  readonly endToEndMs: number;
  /** The run's `duration_ms` in /runs, for comparison: the store stamps `finished_at` once it merged the records. */
  readonly reportedMs: number;
  readonly recordsIngested: number;
  readonly recordsChanged: number | null;
  /** The service process's peak RSS from its start to the end of the run. */
  readonly peakRssBytes: number;
}

export interface IngestTarget {
  readonly harness: BackendHarness;
  /** The service's TABLE_NAME: a new name for a first run, the same one again for a re-ingestion. */
  readonly table: string;
  readonly upstreamUrl: string;
}

/** The key the benchmark's services accept, so that a re-ingestion can be asked for with POST /ingest. */
const BENCH_API_KEY = 'bench-api-key-0123456789';

/**
 * Starts the built service (dist/main.js, through the tests' startService) on `target` and measures one run:
 * on a fresh table the run at boot (`'boot'`); on a table already ingested, where the schedule (kept in the
 * store) is not due for a day, the run asked for with POST /ingest (`'ask'`). The interval is a day, so no
 * other run starts. `during` runs while the service is still up after the run (the memory scenario pages
 * through the records there); the service is stopped after.
 */
export async function measureIngestion(
  target: IngestTarget,
  cleanup: CleanupStack,
  during?: (service: ServiceProcess) => Promise<void>,
  start: 'boot' | 'ask' = 'boot',
): Promise<IngestRun> {
  const service = await startService({
    ...target.harness.serviceEnv(target.table),
    API_ENDPOINT: target.upstreamUrl,
    INGESTION_INTERVAL: '24h',
    API_KEYS: BENCH_API_KEY,
    // The paging pass asks a thousand pages from one address; the benchmark measures the service, not the limiter.
    RATE_LIMIT: '0',
  });
  const stop = cleanup.defer(`service on ${target.table}`, () => service.stop());
  try {
    if (start === 'ask') {
      const { status } = await service.post('/ingest');
      if (status !== 202) throw new Error(`POST /ingest answered ${status}`);
    }
    const run = await awaitRun(service);
    if (during) await during(service);
    return run;
  } finally {
    await stop();
  }
}

interface LogLine {
  readonly msg?: string;
  readonly time?: string;
  readonly startedAt?: string;
  readonly error?: unknown;
}

const LOG_POLL_MS = 20;

/** Waits, on the service's own log (no HTTP polling that would compete with the run), for its first run to end. */
async function awaitRun(service: ServiceProcess): Promise<IngestRun> {
  const logs = service.logs as LogLine[];
  let end: LogLine | undefined;
  while (!(end = logs.find((line) => line.msg === 'run succeeded' || line.msg?.startsWith('run failed')))) {
    if (service.child.exitCode !== null) throw new Error(`the service exited (${service.child.exitCode}) during its run: ${service.stderr.join(' | ')}`);
    await sleep(LOG_POLL_MS);
  }
  if (end.msg !== 'run succeeded') throw new Error(`the run failed: ${end.msg} ${JSON.stringify(end.error ?? '')}`);
  const started = logs.find((line) => line.msg === 'run started');
  const peak = readProcessMemory(service.child.pid as number).peakRssBytes;
  const body = await getWaitingOutShedding<{ runs: Run[] }>(service, '/runs?limit=1');
  const run = body.runs[0];
  if (!run || !started?.startedAt || !end.time) throw new Error(`the run left no trace in /runs or the log: ${JSON.stringify(body)}`);
  return {
    endToEndMs: Date.parse(end.time) - Date.parse(started.startedAt),
    reportedMs: run.duration_ms ?? Number.NaN,
    recordsIngested: run.records_ingested,
    recordsChanged: run.records_changed,
    peakRssBytes: peak,
  };
}

const PAGE_SIZE = 1000;

/**
 * A GET that waits out load shedding, as a well-behaved client does. A large run keeps the event loop busy
 * parsing, and when its delay passes MAX_EVENT_LOOP_DELAY the service answers 503 OVERLOADED with Retry-After
 * until its next sample. These reads only collect what a run left, so they are not timed.
 */
async function getWaitingOutShedding<T>(service: ServiceProcess, path: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { status, body, headers } = await service.get<T>(path);
    if (status === 200) return body;
    if (status !== 503 || attempt === 3) throw new Error(`GET ${path} answered ${status}: ${JSON.stringify(body)}`);
    await sleep(Number(headers.get('retry-after') ?? 1) * 1000);
  }
}

interface PostsPage {
  readonly count: number;
  readonly next_after: number | null;
}

/**
 * Pages through every stored record with keyset pages of the largest size the API serves, and returns the
 * service's peak RSS during the paging alone (the ingestion's peak is cleared first).
 */
export async function peakRssWhilePaging(service: ServiceProcess, expected: number): Promise<number> {
  const pid = service.child.pid as number;
  resetPeakRss(pid);
  let seen = 0;
  let after: number | null = 0;
  while (after !== null) {
    const body: PostsPage = await getWaitingOutShedding<PostsPage>(service, `/posts?limit=${PAGE_SIZE}&after=${after}`);
    seen += body.count;
    after = body.next_after;
  }
  if (seen !== expected) throw new Error(`paging saw ${seen} records, expected ${expected}`);
  return readProcessMemory(pid).peakRssBytes;
}
