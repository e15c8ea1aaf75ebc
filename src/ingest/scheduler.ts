import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { LeaseLostError, RunInProgressError, RunInterruptedError, RunTimedOutError } from '../errors.js';
import { describeError } from '../log-safe.js';
import type { Metrics } from '../metrics.js';
import type { LeaseState, Store } from '../stores/store.js';
import type { RunOutcome, RunTicket } from './run-ingestion.js';

/** What the scheduler needs of a store: the lease, and the recovery its holder performs. */
export type LeaseStore = Pick<Store, 'acquireLease' | 'renewLease' | 'releaseLease' | 'recoverInterruptedRuns'>;

export interface SchedulerOptions {
  readonly intervalMs: number;
  /** A run still going after this is cancelled (RunTimedOutError); none in tests that do not look. */
  readonly runTimeoutMs?: number | undefined;
  readonly leaseTtlMs: number;
  /** This process's name in the lease; unique per replica. */
  readonly replica: string;
  readonly store: LeaseStore;
  /** One run; its outcome, when it has one, tells a run that succeeded from one the cancellation stopped. */
  readonly runOnce: (run: RunTicket) => Promise<Pick<RunOutcome, 'status'> | void>;
  readonly logger: Logger;
  /** Runs a recovery marks failed count here as failed runs: the replica that ran them cannot count them. */
  readonly metrics?: Pick<Metrics, 'runs'> | undefined;
  readonly now?: () => number;
}

/** Spread of the wake-ups of replicas waiting for the same instant, so they do not all ask at once. */
const MAX_JITTER_MS = 250;

/**
 * Runs the ingestion every interval, counted from the start of the previous run, on one replica at a time.
 * Every replica has a scheduler; before a run, each asks the store for the run lease, and only the replica
 * that gets it runs, renewing the lease every third of its TTL. The schedule lives in the lease (when the
 * last run started), so it holds across replicas and restarts. A replica that does not get the lease sleeps
 * until it could: when the holder's lease lapses (the holder died) or when the next run is due, asking at
 * least once a lease's length.
 *
 * `stop()` cancels the run in flight through its AbortSignal and resolves when the run has recorded its end
 * and the lease is released. A run interrupted that way leaves the schedule due, so another replica (or the
 * next start) runs it again at once; one that had already committed keeps its place in the schedule.
 */
export class IngestionScheduler {
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #current: Promise<void> | undefined;
  #currentAbort: AbortController | undefined;
  /** The current run has recorded its end and is giving the lease back. */
  #ending = false;
  /** Lease requests, one at a time, so a timer tick and POST /ingest cannot both start a run here. */
  #turn: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Whether this replica is running a run now. */
  get running(): boolean {
    return this.#current !== undefined;
  }

  start(): void {
    this.#wakeIn(0);
  }

  /**
   * Starts a run now, whatever the schedule, if no replica is running one. Resolves with the run's id once
   * the store holds the run as `running`, so that /status and /runs show it to whoever asks next; throws
   * RunInProgressError when a run is in flight here or elsewhere, and the store's error when it would not
   * record the run.
   */
  async trigger(): Promise<{ runId: string; replica: string }> {
    return this.#exclusive(async () => {
      // A run that has recorded its end is over for /status and /runs: wait for its lease, rather than a 409.
      if (this.#ending) await this.#current;
      if (this.#stopped) throw new RunInterruptedError('the service is shutting down; ask another replica');
      if (this.#current) throw new RunInProgressError(this.#options.replica);
      const { acquired, lease } = await this.#acquire(undefined);
      if (!acquired) throw new RunInProgressError(lease.owner ?? 'another replica');
      if (await this.#giveBackIfStopping()) throw new RunInterruptedError('the service is shutting down; ask another replica');
      const { runId, begun } = this.#startRun();
      await begun;
      return { runId, replica: this.#options.replica };
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#currentAbort?.abort(new RunInterruptedError());
    await this.#turn;
    await this.#current;
  }

  #wakeIn(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#exclusive(() => this.#tick()).catch(() => undefined), Math.max(0, delayMs));
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#turn.then(task);
    this.#turn = result.catch(() => undefined);
    return result;
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#current) return;
    const { intervalMs, leaseTtlMs, logger } = this.#options;
    let answer: { acquired: boolean; lease: LeaseState };
    try {
      answer = await this.#acquire(new Date(this.#now() - intervalMs).toISOString());
    } catch (error) {
      logger.error({ error: describeError(error) }, 'could not ask the store for the run lease; asking again later');
      this.#wakeIn(Math.min(intervalMs, leaseTtlMs));
      return;
    }
    if (answer.acquired) {
      if (!(await this.#giveBackIfStopping())) this.#startRun();
      return;
    }
    const lease = this.#holderGone(answer.lease) ? await this.#recoverForGoneHolder() : answer.lease;
    this.#wakeIn(lease ? this.#untilWorthAsking(lease) + Math.random() * MAX_JITTER_MS : Math.min(intervalMs, leaseTtlMs));
  }

  /**
   * When the lease could next be ours: while a replica holds it, when that holder's lease lapses (it may have
   * died: see #recoverForGoneHolder); otherwise when the schedule is next due, but no later than a lease's
   * length: meanwhile another replica may take the lease for a run asked for with POST /ingest, and die in it.
   */
  #untilWorthAsking(lease: LeaseState): number {
    const now = this.#now();
    if (lease.owner !== null && lease.expiresAt !== null) return Date.parse(lease.expiresAt) - now;
    const due = lease.lastStartedAt !== null ? Date.parse(lease.lastStartedAt) + this.#options.intervalMs : now;
    return Math.min(due - now, this.#options.leaseTtlMs);
  }

  /** A holder is gone when its lease lapsed, or when it is this replica before a restart (this one runs nothing). */
  #holderGone(lease: LeaseState): boolean {
    if (lease.owner === null) return false;
    return lease.owner === this.#options.replica || lease.expiresAt === null || Date.parse(lease.expiresAt) <= this.#now();
  }

  /**
   * A holder that died mid-run left its run `running` in /status and /runs. The next run is not due, so no
   * replica would take the lease and recover it before then (up to an interval later): take the lease now to
   * mark the dead run failed, and give it back with the schedule unchanged. Returns the lease as it then is,
   * or undefined when the store failed.
   */
  async #recoverForGoneHolder(): Promise<LeaseState | undefined> {
    try {
      const { acquired, lease } = await this.#acquire(undefined);
      if (!acquired) return lease;
      try {
        await this.#recoverInterruptedRuns(new Date(this.#now()).toISOString());
      } finally {
        await this.#release(undefined);
      }
      return { ...lease, owner: null, expiresAt: null };
    } catch (error) {
      this.#options.logger.error({ error: describeError(error) }, 'could not mark the runs of a stopped replica failed; asking again later');
      return undefined;
    }
  }

  async #recoverInterruptedRuns(finishedAt: string): Promise<void> {
    const recovered = await this.#options.store.recoverInterruptedRuns(finishedAt);
    if (recovered === 0) return;
    this.#options.metrics?.runs.inc({ outcome: 'failed' }, recovered);
    this.#options.logger.warn({ recovered }, 'runs left running by a stopped replica were marked failed');
  }

  #acquire(dueIfStartedBy: string | undefined): Promise<{ acquired: boolean; lease: LeaseState }> {
    const now = this.#now();
    return this.#options.store.acquireLease({
      owner: this.#options.replica,
      now: new Date(now).toISOString(),
      expiresAt: new Date(now + this.#options.leaseTtlMs).toISOString(),
      dueIfStartedBy,
    });
  }

  /** stop() may have come while the lease was being taken: then the lease goes back, the schedule still due. */
  async #giveBackIfStopping(): Promise<boolean> {
    if (!this.#stopped) return false;
    await this.#release(undefined);
    return true;
  }

  #release(lastStartedAt: string | undefined): Promise<void> {
    return this.#options.store
      .releaseLease(this.#options.replica, lastStartedAt)
      .catch((error: unknown) => this.#options.logger.warn({ error: describeError(error) }, 'could not release the run lease; it lapses by itself'));
  }

  /**
   * Runs with the lease held: recovers runs a dead holder left `running`, runs, releases, schedules the next.
   * `begun` settles when the store holds the run as `running`, or with the store's error when it would not.
   */
  #startRun(): { runId: string; begun: Promise<void> } {
    clearTimeout(this.#timer);
    const { leaseTtlMs, intervalMs, logger } = this.#options;
    const runId = randomUUID();
    const startedAt = this.#now();
    const abort = new AbortController();
    const renewal = setInterval(() => void this.#renew(abort), leaseTtlMs / 3);
    const { runTimeoutMs } = this.#options;
    const deadline = runTimeoutMs === undefined ? undefined : setTimeout(() => abort.abort(new RunTimedOutError(runTimeoutMs)), runTimeoutMs);
    this.#currentAbort = abort;
    let begin: { resolve: () => void; reject: (error: unknown) => void } | undefined;
    const begun = new Promise<void>((resolve, reject) => (begin = { resolve, reject }));
    // Only trigger() waits for it; a scheduled run that could not start is logged below.
    begun.catch(() => undefined);
    let started = false;
    this.#current = (async () => {
      let outcome: Pick<RunOutcome, 'status'> | void = undefined;
      try {
        await this.#recoverInterruptedRuns(new Date(startedAt).toISOString()).catch((error: unknown) => {
          logger.warn({ error: describeError(error) }, 'could not mark the runs of a stopped replica failed; the next lease holder will');
        });
        // A shutdown that came during the recovery (a lock wait, up to half SHUTDOWN_TIMEOUT) need not wait for a begin too.
        abort.signal.throwIfAborted();
        const onBegun = () => {
          started = true;
          begin?.resolve();
        };
        outcome = await this.#options.runOnce({ runId, startedAt: new Date(startedAt), signal: abort.signal, onBegun });
      } catch (error) {
        // runIngestion records failures itself; this is a store that would not record the run as running.
        begin?.reject(error);
        if (abort.signal.aborted) logger.info({ runId, reason: (abort.signal.reason as Error).message }, 'run not started: cancelled before it began');
        else logger.error({ runId, error: describeError(error) }, 'run could not start: the store did not record it as running; asking again later');
      } finally {
        this.#ending = true;
        begin?.resolve();
        clearInterval(renewal);
        clearTimeout(deadline);
        // A run cut short by its deadline still counts, or a stuck upstream would be asked again at once. So
        // does one that committed before a shutdown's cancel reached it: the cancel came too late to stop it.
        const interrupted = abort.signal.aborted && !(abort.signal.reason instanceof RunTimedOutError) && outcome?.status !== 'success';
        // A run the store would not begin took no slot: the schedule stays due, and is asked again after a pause.
        await this.#release(interrupted || !started ? undefined : new Date(startedAt).toISOString());
        this.#current = undefined;
        this.#currentAbort = undefined;
        this.#ending = false;
        this.#wakeIn(interrupted ? 0 : started ? startedAt + intervalMs - this.#now() : Math.min(intervalMs, leaseTtlMs));
      }
    })();
    return { runId, begun };
  }

  /** A lease another replica took means this one stalled past the TTL: its run stops, the other's goes on. */
  async #renew(abort: AbortController): Promise<void> {
    const { store, replica, leaseTtlMs, logger } = this.#options;
    try {
      const held = await store.renewLease(replica, new Date(this.#now() + leaseTtlMs).toISOString());
      if (!held && !abort.signal.aborted) {
        logger.error('the run lease was taken by another replica; stopping this run');
        abort.abort(new LeaseLostError());
      }
    } catch (error) {
      logger.warn({ error: describeError(error) }, 'could not renew the run lease; trying again');
    }
  }
}
