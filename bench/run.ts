import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { StorageType } from '../src/config.js';
import { DYNAMODB_LIMITS } from '../src/stores/dynamodb/dynamodb-store-config.js';
import { CleanupStack } from './cleanup.js';
import { SERVICE_ENTRY } from './http-child.js';
import { benchIngestion } from './ingest-bench.js';
import { currentLoad, describeMachine } from './machine.js';
import { readOptions, type BenchOptions } from './options.js';
import type { BenchReport, MemoryRow, ReingestionRow, ServingRow, StartupRow, ThroughputRow } from './results.js';
import { bareSpec, benchRoutes, benchStartup, CONNECTIONS, serviceRoutes, serviceSpec } from './serve-bench.js';
import { startStoreServer } from './store-servers.js';
import { renderMarkdown } from './table.js';
import { startBenchUpstream, type BenchUpstream } from './upstream-server.js';

/**
 * `npm run bench`: measures ingestion, re-ingestion, memory, serving and start-up of the built service on each
 * store, each next to a baseline measured in the same run, prints the markdown table on stdout (progress goes
 * to stderr) and writes bench/results/latest.json and latest.md. Options: see options.ts and the README.
 */
const RESULTS_DIR = new URL('./results/', import.meta.url);

const startedAt = performance.now();
const progress = (line: string) => {
  const elapsed = Math.round((performance.now() - startedAt) / 1000);
  process.stderr.write(`[${String(Math.floor(elapsed / 60)).padStart(2, '0')}m${String(elapsed % 60).padStart(2, '0')}s] ${line}\n`);
};

interface Collected {
  versions: Partial<Record<StorageType, string>>;
  throughput: ThroughputRow[];
  reingestion: ReingestionRow[];
  memory: MemoryRow[];
  serving: ServingRow[];
  startup: StartupRow[];
  bareStartupMs: BenchReport['bareStartupMs'];
  failures: { store: StorageType | 'bare'; error: string }[];
}

async function main(): Promise<void> {
  const options = readOptions(process.env);
  if (!existsSync(SERVICE_ENTRY)) throw new Error(`${SERVICE_ENTRY} is missing: run \`npm run bench\`, which builds first`);
  const date = new Date().toISOString();
  const loadAverageStart = currentLoad();
  const cleanup = new CleanupStack();
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping every server and process started`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const collected: Collected = { versions: {}, throughput: [], reingestion: [], memory: [], serving: [], startup: [], bareStartupMs: null, failures: [] };
  try {
    const upstream = await startBenchUpstream();
    cleanup.defer('upstream', () => upstream.close());
    try {
      progress('bare Fastify start-up');
      collected.bareStartupMs = await benchStartup(bareSpec(), options.repeats, cleanup);
    } catch (error) {
      collected.failures.push({ store: 'bare', error: describe(error) });
    }
    for (const store of options.stores) {
      try {
        await benchStore(store, upstream, options, cleanup, collected);
      } catch (error) {
        progress(`${store} failed: ${describe(error)}`);
        collected.failures.push({ store, error: describe(error) });
      }
    }
  } finally {
    await cleanup.runAll();
  }

  const { versions, throughput, reingestion, memory, serving, startup, bareStartupMs, failures } = collected;
  const report: BenchReport = {
    date,
    durationSeconds: Math.round((performance.now() - startedAt) / 1000),
    machine: describeMachine(loadAverageStart),
    settings: {
      repeats: options.repeats,
      serveSeconds: options.serveSeconds,
      connections: CONNECTIONS,
      sizes: Object.fromEntries(options.stores.map((store) => [store, options.sizes[store]])),
      sizeNotes: Object.fromEntries(options.stores.flatMap((store) => (options.sizeNotes[store] ? [[store, options.sizeNotes[store]]] : []))),
    },
    versions,
    throughput,
    reingestion,
    memory,
    serving,
    bareStartupMs,
    startup,
    failures,
  };
  const markdown = renderMarkdown(report);
  await writeResults(report, markdown);
  process.stdout.write(markdown);
  progress(`done in ${Math.round(report.durationSeconds / 60)} min; wrote bench/results/latest.json and latest.md`);
  if (failures.length > 0) process.exitCode = 1;
}

/** Scenarios 1 to 5 on one store, its server running only meanwhile so it never competes with another's. */
async function benchStore(store: StorageType, upstream: BenchUpstream, options: BenchOptions, cleanup: CleanupStack, collected: Collected): Promise<void> {
  progress(`${store}: starting the server`);
  const server = await startStoreServer(store, cleanup);
  try {
    collected.versions[store] = server.version;
    const ingestion = await benchIngestion(store, server.harness, upstream, options, cleanup, progress);
    collected.throughput.push(...ingestion.throughput);
    collected.reingestion.push(ingestion.reingestion);
    collected.memory.push(...ingestion.memory);

    progress(`${store}: start-up and serving`);
    const records = options.sizes[store].large;
    // DynamoDB refuses offsets past its bound (OFFSET_TOO_DEEP), so its deep offset is that bound.
    const maxOffset = store === 'dynamodb' ? DYNAMODB_LIMITS.maxOffset : Number.POSITIVE_INFINITY;
    const spec = serviceSpec(server.harness.serviceEnv(ingestion.servingTable), upstream.urlFor(0));
    // The table was ingested moments ago and the schedule lives in the store: no run starts during the load.
    collected.startup.push({ store, records, startupMs: await benchStartup(spec, options.repeats, cleanup) });
    for (const result of await benchRoutes(spec, serviceRoutes(records, maxOffset), options.repeats, options.serveSeconds, cleanup)) {
      collected.serving.push({ store, records, ...result });
    }
  } finally {
    await server.stop();
  }
}

/** Written beside and renamed over, so a run stopped halfway never leaves half a file. */
async function writeResults(report: BenchReport, markdown: string): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  for (const [name, text] of [['latest.json', `${JSON.stringify(report, null, 2)}\n`], ['latest.md', markdown]] as const) {
    const file = new URL(name, RESULTS_DIR);
    const temporary = new URL(`${name}.tmp`, RESULTS_DIR);
    await writeFile(temporary, text);
    await rename(temporary, file);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

await main();
