import { setTimeout as delay } from 'node:timers/promises';
import type { RetryPolicy } from '../config.js';
import { nextDelay } from './backoff.js';

export interface RetryDecision {
  /** Whether another attempt may succeed. */
  readonly retryable: boolean;
  /** What the server asked for (Retry-After), in milliseconds from now. */
  readonly retryAfterMs?: number | undefined;
  /** A short label for logs and metrics: "status 503", "network", ... */
  readonly reason: string;
}

export interface RetryInfo {
  readonly retry: number;
  readonly delayMs: number;
  readonly reason: string;
  readonly error: unknown;
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  /** Classifies a failure; the only place that knows which errors are worth another attempt. */
  readonly classify: (error: unknown) => RetryDecision;
  readonly signal?: AbortSignal | undefined;
  readonly onRetry?: ((info: RetryInfo) => void) | undefined;
  /** Injected in unit tests so nothing really sleeps. Must reject when the signal aborts. */
  readonly sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  readonly random?: (() => number) | undefined;
}

const realSleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, { signal });

/**
 * Calls `attempt` until it succeeds, the error is not retryable, or the policy's retries are spent; then
 * rethrows the last error. An abort of `signal` ends a pending wait at once and is rethrown as the signal's
 * reason, so shutdown never waits out a backoff.
 */
export async function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let attemptNumber = 1; ; attemptNumber++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const decision = options.classify(error);
      const retry = attemptNumber;
      if (!decision.retryable || retry > options.policy.retries) throw error;
      const delayMs = nextDelay(retry, options.policy, decision.retryAfterMs, random);
      options.onRetry?.({ retry, delayMs, reason: decision.reason, error });
      try {
        await sleep(delayMs, options.signal);
      } catch {
        throw options.signal?.reason ?? error;
      }
    }
  }
}
