import type { Logger } from 'pino';
import { RunInterruptedError } from '../errors.js';
import { describeError } from '../log-safe.js';

export interface SchedulerOptions {
  readonly intervalMs: number;
  readonly runOnce: (signal: AbortSignal) => Promise<unknown>;
  readonly logger: Logger;
}

/**
 * Starts a run at once, then one every interval, measured from the start of the previous run. Runs never
 * overlap: when a run lasts longer than the interval, the next starts as soon as it ends. `stop()` cancels
 * the run in flight through its AbortSignal and resolves when that run has recorded its end.
 */
export class IngestionScheduler {
  readonly #options: SchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #current: Promise<void> | undefined;
  #abort = new AbortController();
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
  }

  /** Whether a run is in flight. */
  get running(): boolean {
    return this.#current !== undefined;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort(new RunInterruptedError());
    await this.#current;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#runAndReschedule(), delayMs);
  }

  #runAndReschedule(): void {
    const startedAt = Date.now();
    this.#current = this.#options
      .runOnce(this.#abort.signal)
      .then(
        () => undefined,
        (error: unknown) => {
          // runIngestion records failures itself; this is a store that could not even begin the run.
          this.#options.logger.error({ error: describeError(error) }, 'run could not start');
        },
      )
      .finally(() => {
        this.#current = undefined;
        this.#schedule(Math.max(0, startedAt + this.#options.intervalMs - Date.now()));
      });
  }
}
