/**
 * Everything the benchmark starts (servers, child processes, temporary directories) registers how to stop it
 * here, and `run.ts` empties the stack in a `finally` and on SIGINT/SIGTERM, newest first, so a failed or
 * interrupted run leaves nothing behind.
 */
export class CleanupStack {
  readonly #steps: { label: string; stop: () => Promise<unknown> }[] = [];

  /** Registers `stop` and returns a function that runs it now, once, and forgets it. */
  defer(label: string, stop: () => Promise<unknown>): () => Promise<void> {
    const step = { label, stop };
    this.#steps.push(step);
    return async () => {
      const index = this.#steps.indexOf(step);
      if (index === -1) return;
      this.#steps.splice(index, 1);
      await step.stop();
    };
  }

  /** Runs every step left, newest first; a failing step is reported and the others still run. */
  async runAll(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop() as { label: string; stop: () => Promise<unknown> };
      try {
        await step.stop();
      } catch (error) {
        process.stderr.write(`cleanup: stopping ${step.label} failed: ${String(error)}\n`);
      }
    }
  }
}
