import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { RetryPolicy } from '../config.js';
import { LeaseLostError, RunInterruptedError, RunSupersededError, StoreUnavailableError } from '../errors.js';
import { describeError, publicReason } from '../log-safe.js';
import type { Metrics } from '../metrics.js';
import { backoffDelay } from '../retry/backoff.js';
import { withRetry } from '../retry/retry.js';
import { durationMs, type Post, type RunFailure, type RunWriter, type Store } from '../stores/store.js';
import { classifyUpstreamError } from '../upstream/classify-upstream-error.js';
import { validatePost } from './validate-post.js';
import { WriteAhead } from './write-ahead.js';

export interface IngestionDeps {
  readonly store: Store;
  /** Streams the upstream's records, in groups as they arrive; called once per attempt. */
  readonly fetchRecords: (signal: AbortSignal) => AsyncIterable<readonly unknown[]>;
  readonly retry: RetryPolicy;
  readonly batchSize: number;
  readonly source: string;
  /** REPLICA_ID of this process, recorded with the run. */
  readonly replica?: string | undefined;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Jitter for the backoffs between attempts, in [0, 1); Math.random unless a test fixes it. */
  readonly random?: () => number;
  /** Where outcomes, counts, durations and retries are recorded; none in tests that do not look. */
  readonly metrics?: Metrics | undefined;
}

/** What the scheduler decided about a run: its id, when it started (the schedule counts from it), its cancellation. */
export interface RunTicket {
  readonly runId: string;
  readonly startedAt: Date;
  readonly signal: AbortSignal;
  /** Called once the store holds the run as `running`: POST /ingest answers 202 then, not before. */
  readonly onBegun?: () => void;
}

export interface RunOutcome {
  readonly runId: string;
  readonly status: 'success' | 'failed';
  readonly recordsIngested: number;
  readonly recordsRejected: number;
  readonly error?: string;
}

/**
 * Rejections logged one by one per attempt (a retry reads the records again, so its lines repeat the first's,
 * each naming its attempt); the rest are counted, so a broken upstream cannot flood the log.
 */
const REJECTIONS_LOGGED = 20;

/**
 * One ingestion run: fetch -> validate -> transform -> store -> status. Upstream failures are retried as a
 * whole attempt (the store forgets what the failed attempt wrote); invalid records are skipped and counted;
 * anything else fails the run, which the store records without touching the last good data and status.
 * Never throws for a failed run: the outcome says what happened.
 */
export async function runIngestion(deps: IngestionDeps, run: RunTicket): Promise<RunOutcome> {
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const { runId, signal } = run;
  const startedAt = run.startedAt.toISOString();
  const log = deps.logger.child({ runId });
  const metrics = deps.metrics;
  const writer = await deps.store.beginRun({ runId, startedAt, replica: deps.replica }).catch((error: unknown) => {
    // A run the store would not even begin is a failed run to whoever alerts on the outcome.
    metrics?.runs.inc({ outcome: 'failed' });
    throw error;
  });
  run.onBegun?.();
  log.info({ startedAt }, 'run started');
  // The latest attempt's counts, kept as it goes: a run that fails still reports what its last attempt rejected.
  let tally: Tally = { valid: 0, rejected: 0 };
  // Why the next attempt is made: counted when it starts, so a run cancelled during the backoff counts none.
  let retryReason: string | undefined;
  try {
    const ingested = await withRetry(
      async (attempt) => {
        if (retryReason !== undefined) metrics?.upstreamRetries.inc({ reason: retryReason });
        retryReason = undefined;
        if (attempt > 1) await writer.discardAttempt();
        tally = { valid: 0, rejected: 0 };
        await ingestAttempt(deps, writer, { ingestedAt: startedAt, source: deps.source }, { signal, log: log.child({ attempt }), tally });
        return tally.valid;
      },
      {
        policy: deps.retry,
        classify: (error) => classifyUpstreamError(error),
        signal,
        random,
        onRetry: ({ retry, delayMs, reason, error }) => {
          retryReason = reason;
          log.warn({ retry, delayMs, reason, error: describeError(error) }, 'upstream attempt failed; retrying');
        },
      },
    );
    signal.throwIfAborted();
    const { recordsChanged, finishedAt } = await writer.commit({
      finishedAt: () => now().toISOString(),
      recordsIngested: ingested,
      recordsRejected: tally.rejected,
    });
    const duration = durationMs(startedAt, finishedAt);
    log.info({ recordsIngested: ingested, recordsRejected: tally.rejected, recordsChanged, durationMs: duration }, 'run succeeded');
    if (metrics) {
      metrics.runs.inc({ outcome: 'success' });
      metrics.recordsIngested.inc(ingested);
      metrics.recordsRejected.inc(tally.rejected);
      metrics.runDuration.observe(duration / 1000);
    }
    return { runId, status: 'success', recordsIngested: ingested, recordsRejected: tally.rejected };
  } catch (error) {
    // Why the run was stopped (shutdown, or the lease taken by another replica), rather than what it was doing then.
    const reason = signal.aborted ? (signal.reason instanceof RunInterruptedError ? signal.reason : new RunInterruptedError()).message : publicReason(error);
    log.error({ error: describeError(error) }, `run failed: ${reason}`);
    const finishedAt = now().toISOString();
    if (metrics) {
      // A run another replica took over from was counted failed there, when its recovery marked it failed.
      if (!(signal.reason instanceof LeaseLostError || error instanceof RunSupersededError)) metrics.runs.inc({ outcome: 'failed' });
      metrics.recordsRejected.inc(tally.rejected);
      metrics.runDuration.observe(durationMs(startedAt, finishedAt) / 1000);
    }
    await recordFailure(writer, { finishedAt, error: reason, recordsRejected: tally.rejected }, { signal, random, log });
    return { runId, status: 'failed', recordsIngested: 0, recordsRejected: tally.rejected, error: reason };
  }
}

/**
 * Waits between attempts to record a failed run while the store is away: 1 s, doubling up to 30 s, jittered.
 * Fixed rather than RETRY_*, which an operator tunes for the upstream (down to 0, which here would spin).
 */
const RECORDING_BACKOFF: RetryPolicy = { retries: Number.POSITIVE_INFINITY, baseDelayMs: 1_000, maxDelayMs: 30_000 };

/**
 * Records a failed run (see RunWriter.abort). A run often fails because the store went away, and then its
 * failure cannot be written either; left unwritten, the run would show `running` until the next lease holder
 * marked it failed without its cause. So the store is asked again, while it answers that it is unavailable,
 * until the run's signal ends the wait (shutdown, RUN_TIMEOUT, or another replica taking the lease over); then
 * once more, as a last chance. Meanwhile the run holds the lease, so no other run starts on this replica.
 */
async function recordFailure(
  writer: RunWriter,
  failure: RunFailure,
  { signal, random, log }: { signal: AbortSignal; random: () => number; log: Logger },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await writer.abort(failure);
      if (attempt > 1) log.info({ attempts: attempt }, 'the failed run is recorded');
      return;
    } catch (error) {
      if (signal.aborted || !(error instanceof StoreUnavailableError)) {
        log.error({ error: describeError(error) }, 'could not record the failed run; the next lease holder marks it failed');
        return;
      }
      if (attempt === 1) log.warn({ error: describeError(error) }, 'could not record the failed run; asking the store again until it answers');
      await delay(backoffDelay(attempt, RECORDING_BACKOFF, random), undefined, { signal }).catch(() => undefined);
    }
  }
}

/** An attempt's counts so far: valid records (written or in flight) and rejected ones. */
interface Tally {
  valid: number;
  rejected: number;
}

/** One pass over the upstream's response, counting into `tally` as it goes; its log lines name the attempt. */
async function ingestAttempt(
  deps: IngestionDeps,
  writer: RunWriter,
  stamp: { ingestedAt: string; source: string },
  { signal, log, tally }: { signal: AbortSignal; log: Logger; tally: Tally },
): Promise<void> {
  let batch: Post[] = [];
  let index = 0;
  const writes = new WriteAhead(writer);
  try {
    for await (const group of deps.fetchRecords(signal)) {
      for (const raw of group) {
        const result = validatePost(raw, stamp);
        if (result.ok) {
          tally.valid += 1;
          batch.push(result.post);
          if (batch.length >= deps.batchSize) {
            await writes.write(batch);
            batch = [];
          }
        } else {
          tally.rejected += 1;
          if (tally.rejected <= REJECTIONS_LOGGED) log.warn({ index, reason: result.reason }, 'record rejected');
        }
        index += 1;
      }
    }
    if (batch.length > 0) await writes.write(batch);
    await writes.drain();
  } finally {
    // An attempt that failed is discarded or aborted next, which must not overlap a write still in flight.
    await writes.settle();
  }
  if (tally.rejected > REJECTIONS_LOGGED) log.warn({ rejected: tally.rejected, logged: REJECTIONS_LOGGED }, 'more records rejected than logged');
}
