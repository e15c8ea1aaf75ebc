import type autocannon from 'autocannon';
import { formatDuration } from '../../src/duration.js';
import type { SoakOptions } from './soak-options.js';

/** The target: the service's resident memory grows by less than this over the soak. */
const RSS_GROWTH_LIMIT = 0.1;

export interface RunTally {
  readonly success: number;
  readonly failed: number;
  /** Records inserted or updated, summed over the runs. */
  readonly recordsChanged: number;
  /** The error of each failed run, newest first. */
  readonly failures: readonly string[];
}

export interface SoakMeasurements {
  readonly options: SoakOptions;
  /** Between the two memory samples. */
  readonly measuredMs: number;
  readonly load: autocannon.Result;
  /** Messages of the service's error-level log lines. */
  readonly errorLogs: readonly string[];
  readonly runs: RunTally;
  readonly rss: { readonly startBytes: number; readonly endBytes: number; readonly peakBytes: number };
  readonly shutdown: { readonly exitCode: number | null; readonly ms: number };
}

export interface TargetOutcome {
  readonly target: string;
  readonly passed: boolean;
}

const count = (value: number) => value.toLocaleString('en-US');
export const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const roundToSeconds = (ms: number) => Math.round(ms / 1000) * 1000;
const percent = (ratio: number) => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`;

function rssGrowth({ rss }: SoakMeasurements): number {
  return rss.endBytes / rss.startBytes - 1;
}

/** The three targets of the issue; nothing is injected, so any failed run is a failure. */
export function evaluateTargets(measurements: SoakMeasurements): TargetOutcome[] {
  const { load, errorLogs, runs } = measurements;
  return [
    { target: 'zero errors', passed: load.errors === 0 && load.non2xx === 0 && errorLogs.length === 0 },
    { target: 'zero failed runs', passed: runs.failed === 0 && runs.success > 0 },
    { target: `RSS growth under ${RSS_GROWTH_LIMIT * 100}%`, passed: rssGrowth(measurements) < RSS_GROWTH_LIMIT },
  ];
}

export function formatSoakReport(measurements: SoakMeasurements, outcomes: readonly TargetOutcome[]): string {
  const { options, measuredMs, load, errorLogs, runs, rss, shutdown } = measurements;
  const lines = [
    `soak ${outcomes.every((outcome) => outcome.passed) ? 'PASSED' : 'FAILED'}`,
    `  duration       ${formatDuration(roundToSeconds(measuredMs))} measured after a ${formatDuration(options.warmupMs)} warm-up; ${formatDuration(roundToSeconds(load.duration * 1000))} of load in all`,
    `  setup          ${options.store}; ${count(options.posts)} posts ingested every ${options.interval}; ${options.connections} connections at ${count(options.rate)} req/s`,
    `  requests       ${count(load.requests.total)} served, ${count(load['2xx'])} 2xx; latency p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms, max ${load.latency.max} ms`,
    `  errors         ${count(load.non2xx)} non-2xx, ${count(load.errors - load.timeouts)} connection errors, ${count(load.timeouts)} timeouts, ${errorLogs.length} service error logs`,
    `  runs           ${count(runs.success + runs.failed)} completed: ${count(runs.success)} success, ${count(runs.failed)} failed; ${count(runs.recordsChanged)} records changed`,
    `  RSS            start ${mebibytes(rss.startBytes)}, end ${mebibytes(rss.endBytes)}, peak ${mebibytes(rss.peakBytes)}; growth ${percent(rssGrowth(measurements))}`,
    `  shutdown       SIGTERM -> exit ${shutdown.exitCode} in ${shutdown.ms} ms`,
    ...Object.entries(load.statusCodeStats)
      .filter(([status]) => !status.startsWith('2'))
      .map(([status, { count: times }]) => `  status ${status}     ${count(times)} answers`),
    ...runs.failures.slice(0, 5).map((error) => `  failed run     ${error}`),
    ...errorLogs.slice(0, 5).map((message) => `  error log      ${message}`),
    'targets',
    ...outcomes.map((outcome) => `  ${outcome.passed ? 'PASS' : 'FAIL'}  ${outcome.target}`),
  ];
  return lines.join('\n');
}
