import type { BenchReport } from './results.js';
import { bareRouteFor } from './serve-bench.js';
import type { Summary } from './stats.js';

const MiB = 1024 ** 2;

/** The targets. Memory is read as 256 MiB, the unit RSS is reported in. */
export const TARGETS = Object.freeze({
  /** Service ingestion rate over the store's raw bulk rate. */
  throughputRatio: 0.5,
  /** First run's time over the re-ingestion's. */
  reingestionSpeedup: 2,
  peakRssBytes: 256 * MiB,
  /** GET /posts/{id} over the bare route, on SQLite and PostgreSQL. */
  servingRatio: 0.6,
  servingP99Ms: 20,
});
const SERVING_TARGET_STORES: readonly string[] = ['sqlite', 'postgresql'];
const GET_BY_ID = '/posts/{n}';

const integer = (n: number) => Math.round(n).toLocaleString('en-US');
const millis = (n: number) => (n >= 100 ? integer(n) : n.toFixed(1));
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const mebibytes = (bytes: number) => integer(bytes / MiB);
const times = (ratio: number) => `${ratio.toFixed(2)}×`;
const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;
/** How far a figure misses its target: never "0%", which would read as no miss at all. */
const shortfall = (fraction: number) => (fraction < 0.005 ? 'under 1%' : percent(fraction));

/** `median (min–max)`, or the one value when there was one run. */
function spread(summary: Summary, format: (n: number) => string): string {
  return summary.samples.length === 1 ? format(summary.median) : `${format(summary.median)} (${format(summary.min)}–${format(summary.max)})`;
}

/** Renders the report as markdown: the header naming the machine, one table per scenario, then every miss. */
export function renderMarkdown(report: BenchReport): string {
  const misses: string[] = [];
  /** PASS, or MISS with by how much; a miss is also listed at the end. */
  const judge = (pass: boolean, what: string, howMuch: string) => {
    if (pass) return 'PASS';
    misses.push(`${what}: ${howMuch}`);
    return `**MISS**: ${howMuch}`;
  };
  const atLeast = (value: number, target: number, show: (n: number) => string, what: string) =>
    judge(value >= target, what, `${show(value)}, ${shortfall((target - value) / target)} short of ${show(target)}`);
  const below = (value: number, target: number, show: (n: number) => string, what: string) =>
    judge(value < target, what, value === target ? `${show(value)}, not under it` : `${show(value)}, ${shortfall((value - target) / target)} over ${show(target)}`);

  const { machine, settings } = report;
  const out: string[] = [];
  out.push(
    `Measured by \`npm run bench\` on ${report.date.slice(0, 10)} in ${Math.round(report.durationSeconds / 60)} min: Node.js ${machine.node}, ` +
      `${machine.cpu} (${machine.cores} cores), ${machine.memoryGiB} GiB RAM, ${machine.os}; 1-minute load average ${machine.loadAverageStart} ` +
      `at the start and ${machine.loadAverageEnd} at the end (above 0 means other work shared the cores). Each figure is the median of ` +
      `${settings.repeats} run${settings.repeats === 1 ? "" : "s"}, with the minimum and maximum in brackets; each baseline was measured in the same run.`,
    '',
  );
  out.push('Stores:', '');
  for (const [store, version] of Object.entries(report.versions)) out.push(`- ${store}: ${version}`);
  for (const [store, note] of Object.entries(settings.sizeNotes)) {
    const sizes = settings.sizes[store as keyof typeof settings.sizes];
    out.push(`- ${store} ran at ${integer(sizes?.small ?? 0)} and ${integer(sizes?.large ?? 0)} records, not the sizes asked for: ${note}.`);
  }
  for (const failure of report.failures) out.push(`- **${failure.store} did not finish**: ${failure.error}`);
  out.push('');

  out.push('### 1. Ingestion throughput, end to end (records/s)', '');
  out.push('| store | records | service | raw bulk path | raw | service ÷ raw | target | verdict |', '|---|--:|--:|---|--:|--:|--:|---|');
  for (const row of report.throughput) {
    const ratio = row.service.median / row.raw.median;
    const verdict = atLeast(ratio, TARGETS.throughputRatio, times, `ingestion on ${row.store}, ${integer(row.records)} records (service ÷ raw)`);
    out.push(`| ${row.store} | ${integer(row.records)} | ${spread(row.service, integer)} | ${row.rawPath} | ${spread(row.raw, integer)} | ${times(ratio)} | ≥ ${times(TARGETS.throughputRatio)} | ${verdict} |`);
  }
  out.push(
    '',
    'End to end is from the run\'s `started_at` to the service logging "run succeeded", after the commit. The ' +
      "run's own `duration_ms` (in `/runs` and `/status`) ends once its records are merged, inside the commit; at the large size it was " +
      report.throughput
        .filter((row) => row.size === 'large')
        .map((row) => `${percent(row.reportedMs.median / row.endToEndMs.median)} of it on ${row.store}`)
        .join(', ') +
      '.',
    '',
  );

  out.push('### 2. Re-ingestion of unchanged data (the second run over the same records)', '');
  out.push('| store | records | first run, s | second run, s | speed-up | target | verdict | records changed by the second run |', '|---|--:|--:|--:|--:|--:|---|--:|');
  for (const row of report.reingestion) {
    const verdict = atLeast(row.speedup.median, TARGETS.reingestionSpeedup, times, `re-ingestion on ${row.store}, ${integer(row.records)} records (first ÷ second)`);
    const changed = row.changedOnSecond.map((n) => (n === null ? '?' : integer(n))).join(', ');
    out.push(`| ${row.store} | ${integer(row.records)} | ${spread(row.firstMs, seconds)} | ${spread(row.secondMs, seconds)} | ${spread(row.speedup, times)} | ≥ ${times(TARGETS.reingestionSpeedup)} | ${verdict} | ${changed} |`);
  }
  out.push('');

  out.push('### 3. Memory: peak RSS of the service process (MiB, VmHWM)', '');
  out.push('The upstream answers all records as one JSON array (about 250 bytes a record). Paging is `GET /posts?after=&limit=1000` through every record once the run is done.', '');
  out.push('| store | while | records | peak RSS | baseline: ingesting the small size | target | verdict |', '|---|---|--:|--:|--:|--:|---|');
  for (const row of report.memory) {
    const scenario = row.scenario === 'ingest' ? 'ingesting' : 'paging';
    const verdict = below(row.peakBytes.median, TARGETS.peakRssBytes, (b) => `${mebibytes(b)} MiB`, `peak RSS ${scenario} ${integer(row.records)} records on ${row.store}`);
    out.push(`| ${row.store} | ${scenario} | ${integer(row.records)} | ${spread(row.peakBytes, mebibytes)} | ${spread(row.baselineBytes, mebibytes)} (${integer(row.baselineRecords)} records) | < ${mebibytes(TARGETS.peakRssBytes)} | ${verdict} |`);
  }
  out.push('');

  out.push(`### 4. Serving: ${settings.connections} connections, ${settings.serveSeconds} s per run after a 1 s warm-up, autocannon in its own process`, '');
  out.push(
    '| store | records | route | req/s | p50, ms | p99, ms | bare route loaded the same way, req/s | ÷ bare | target | verdict |',
    '|---|--:|---|--:|--:|--:|---|--:|---|---|',
  );
  const latency = (summary: Summary | null) => (summary ? spread(summary, millis) : 'none finished');
  for (const row of report.serving) {
    const f = row.figures;
    let target = '—';
    let verdict = '';
    if (row.route.path === GET_BY_ID && SERVING_TARGET_STORES.includes(row.store)) {
      target = `≥ ${times(TARGETS.servingRatio)} bare, p99 < ${TARGETS.servingP99Ms} ms`;
      const what = `GET /posts/{id} on ${row.store}`;
      const verdicts = [
        atLeast(row.ratio.median, TARGETS.servingRatio, times, `${what} (÷ bare)`),
        f.p99Ms
          ? below(f.p99Ms.median, TARGETS.servingP99Ms, (ms) => `p99 ${millis(ms)} ms`, `${what} (p99)`)
          : judge(false, `${what} (p99)`, 'p99: none finished'),
      ];
      verdict = verdicts.every((v) => v === 'PASS') ? 'PASS' : verdicts.filter((v) => v !== 'PASS').join('; ');
    }
    const failed = f.failedRequests > 0 ? ` (${integer(f.failedRequests)} failed requests)` : '';
    const bare = `${bareRouteFor(row.route).name}: ${spread(row.bare.requestsPerSecond, integer)}`;
    out.push(`| ${row.store} | ${integer(row.records)} | ${row.route.name}${failed} | ${spread(f.requestsPerSecond, integer)} | ${latency(f.p50Ms)} | ${latency(f.p99Ms)} | ${bare} | ${spread(row.ratio, times)} | ${target} | ${verdict} |`);
  }
  out.push(
    '',
    'Each run of a route follows a run of a bare Fastify route answering the same bytes, loaded the same way: `/bare/{id}` with a random id per request for a route that draws an id or `after=` per request, `/bare` for a fixed path. The load generator shares the cores, and drawing a path per request costs it part of the throughput it can drive. "÷ bare" is the median over the runs of each run\'s rate over the bare run\'s just before it, with the lowest and highest.',
    'Latencies come from autocannon, whose histogram counts whole milliseconds.',
    'Every run starts its server afresh. The runs of a route follow one another, after the routes above it: a store may go on working through a load\'s unfinished requests after the server stopped, so the figures of a route never include another route\'s load.',
  );
  if (report.serving.some((row) => row.figures.p99Ms === null)) {
    out.push('"none finished": every request of every run was still in flight when the run ended, so none could be timed.');
  }
  out.push('');

  out.push('### 5. Start-up: process start to `GET /ready` answering 200 (ms)', '');
  out.push('The store already holds the records of the scenarios above, and is idle: start-up is timed before the serving loads. The baseline is the bare Fastify process, from start to its first 200. The issue sets no target.', '');
  out.push('| store | records stored | start-up | bare Fastify | ÷ bare |', '|---|--:|--:|--:|--:|');
  const bareStartup = report.bareStartupMs;
  for (const row of report.startup) {
    const ratio = bareStartup ? row.startupMs.median / bareStartup.median : Number.NaN;
    out.push(`| ${row.store} | ${integer(row.records)} | ${spread(row.startupMs, millis)} | ${bareStartup ? spread(bareStartup, millis) : '—'} | ${times(ratio)} |`);
  }
  out.push('');

  out.push('### Targets missed', '');
  if (misses.length === 0) out.push('None.');
  for (const miss of misses) out.push(`- ${miss}`);
  return `${out.join('\n')}\n`;
}
