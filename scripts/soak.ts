/**
 * `npm run soak`: the built service (dist/main.js) ingests from a fake upstream every SOAK_INTERVAL while
 * autocannon reads its API for SOAK_DURATION; then it prints what was served, the runs and the service's
 * memory, and PASS or FAIL for each target of the issue (zero errors, zero failed runs, RSS growth under 10%).
 * Exits 1 when a target fails or the soak cannot finish, 2 on wrong options. Not part of `npm test`: it takes
 * ten minutes by default.
 * Options are SOAK_* variables (scripts/soak/soak-options.ts); Linux only, as memory is read from /proc.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../src/duration.js';
import { ALL_BACKENDS } from '../test/support/backends.js';
import { startFakeUpstream } from '../test/support/fake-upstream.js';
import { startService, type ServiceProcess } from '../test/support/service-process.js';
import { startApiLoad } from './soak/api-load.js';
import { postsAtRevision } from './soak/changing-posts.js';
import { readProcessMemory } from '../test/support/process-memory.js';
import { readSoakOptions, type SoakOptions } from './soak/soak-options.js';
import { evaluateTargets, formatSoakReport, mebibytes, type RunTally } from './soak/soak-report.js';

/** How often a progress line is printed. */
const PROGRESS_EVERY_MS = 30_000;
/** The upstream changes some titles every this many ingestion intervals, so runs do real updates. */
const INTERVALS_PER_REVISION = 3;
/** A run of a few thousand records takes well under a second; this bounds a stuck one. */
const RUN_TIMEOUT_MS = 60_000;
/** The service stops within SHUTDOWN_TIMEOUT (10 s by default); past this it is killed. */
const STOP_TIMEOUT_MS = 15_000;

interface Status {
  readonly status: string;
  readonly last_attempt: string | null;
}

interface Run {
  readonly status: string;
  readonly records_changed: number | null;
  readonly error: string | null;
}

/** Every step that undoes a start, run newest first, on success, failure or a signal. */
const teardown: Array<() => Promise<unknown> | void> = [];

async function tearDown(): Promise<void> {
  for (const step of teardown.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      console.error(`cleanup step failed: ${String(error)}`);
    }
  }
}

const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Waits for the first run that starts after `previousAttempt` to finish, and returns the status it left. */
function waitForRunAfter(service: ServiceProcess, previousAttempt: string | null, intervalMs: number): Promise<Status> {
  return service.waitFor<Status>('/status', (status) => status.last_attempt !== previousAttempt && status.status !== 'running', intervalMs + RUN_TIMEOUT_MS);
}

/** SIGTERM, as an orchestrator stops the service; SIGKILL if it outlives its shutdown timeout. */
async function stopService(service: ServiceProcess): Promise<{ exitCode: number | null; ms: number }> {
  const started = Date.now();
  const kill = setTimeout(() => service.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const exitCode = await service.stop('SIGTERM');
  clearTimeout(kill);
  return { exitCode, ms: Date.now() - started };
}

async function tallyRuns(service: ServiceProcess): Promise<RunTally> {
  const { body } = await service.get<{ runs: Run[] }>('/runs?limit=1000');
  const finished = (status: string) => body.runs.filter((run) => run.status === status);
  return {
    success: finished('success').length,
    failed: finished('failed').length,
    recordsChanged: body.runs.reduce((sum, run) => sum + (run.records_changed ?? 0), 0),
    failures: finished('failed').map((run) => run.error ?? 'no error recorded'),
  };
}

async function soak(options: SoakOptions): Promise<boolean> {
  log(
    `${formatDuration(options.durationMs)} after a ${formatDuration(options.warmupMs)} warm-up, on ${options.store}: ` +
      `${options.posts} posts every ${options.interval}, ${options.connections} connections at ${options.rate} req/s`,
  );
  const upstream = await startFakeUpstream(postsAtRevision(options.posts, 0));
  teardown.push(() => upstream.close());
  const backend = ALL_BACKENDS.find((candidate) => candidate.name === options.store);
  if (!backend) throw new Error(`no test backend named ${options.store}`);
  const harness = await backend.start();
  teardown.push(() => harness.stop());
  // The load comes from one address at a steady rate above RATE_LIMIT's default: the soak measures the service, not the limiter.
  const service = await startService({
    ...harness.serviceEnv('soak_posts'),
    API_ENDPOINT: upstream.url,
    INGESTION_INTERVAL: options.interval,
    // info, not warn: startService learns the port from the `service started` line. Answers below 400 are
    // logged at debug, so under the soak's load the log holds little more than a line per run.
    LOG_LEVEL: 'info',
    RATE_LIMIT: '0',
  });
  teardown.push(() => stopService(service));
  const pid = service.child.pid as number;
  // Memory is sampled at the same point of the cycle each time: a run has just finished, under load.
  const sampleAfterNextRun = async () => {
    const { body } = await service.get<Status>('/status');
    await waitForRunAfter(service, body.last_attempt, options.intervalMs);
    return readProcessMemory(pid);
  };

  // The load starts once the first run has stored every post, so any answer but a 2xx is an error.
  const firstRun = await waitForRunAfter(service, null, options.intervalMs);
  log(`first run ${firstRun.status}; load and warm-up start`);
  let revision = 0;
  const revisions = setInterval(() => upstream.setPosts(postsAtRevision(options.posts, ++revision)), options.intervalMs * INTERVALS_PER_REVISION);
  teardown.push(() => clearInterval(revisions));
  const load = startApiLoad({
    url: service.url,
    maxDurationMs: options.warmupMs + options.durationMs + 2 * (options.intervalMs + RUN_TIMEOUT_MS),
    connections: options.connections,
    rate: options.rate,
    postCount: options.posts,
  });
  teardown.push(() => load.stop());
  const progress = setInterval(() => log(`${load.answered()} answers; RSS ${mebibytes(readProcessMemory(pid).rssBytes)}`), PROGRESS_EVERY_MS);
  teardown.push(() => clearInterval(progress));

  await sleep(options.warmupMs);
  const start = await sampleAfterNextRun();
  log(`warm-up done; RSS ${mebibytes(start.rssBytes)}; measuring for ${formatDuration(options.durationMs)}`);
  const measuringSince = Date.now();
  await sleep(options.durationMs);
  const end = await sampleAfterNextRun();
  const measuredMs = Date.now() - measuringSince;
  load.stop();
  const loadResult = await load.result;
  clearInterval(progress);
  clearInterval(revisions);
  if (service.child.exitCode !== null) throw new Error(`the service exited (${service.child.exitCode}) during the soak: ${service.stderr.slice(-10).join(' | ')}`);

  const runs = await tallyRuns(service);
  const shutdown = await stopService(service);
  const measurements = {
    options,
    measuredMs,
    load: loadResult,
    errorLogs: service.logs.filter((line) => Number(line.level) >= 50).map((line) => String(line.msg ?? line.raw)),
    runs,
    rss: { startBytes: start.rssBytes, endBytes: end.rssBytes, peakBytes: end.peakRssBytes },
    shutdown,
  };
  const outcomes = evaluateTargets(measurements);
  console.log(formatSoakReport(measurements, outcomes));
  return outcomes.every((outcome) => outcome.passed);
}

let options: SoakOptions;
try {
  options = readSoakOptions(process.env);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void tearDown().finally(() => process.exit(130));
  });
}
let passed = false;
try {
  passed = await soak(options);
} catch (error) {
  console.error(`soak aborted: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
} finally {
  await tearDown();
}
process.exit(passed ? 0 : 1);
