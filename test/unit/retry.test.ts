import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryPolicy } from '../../src/config.js';
import {
  UpstreamInvalidJsonError,
  UpstreamNetworkError,
  UpstreamStatusError,
  UpstreamTooLargeError,
  StoreUnavailableError,
} from '../../src/errors.js';
import { withRetry, type RetryInfo, type RetryOptions } from '../../src/retry/retry.js';
import { classifyUpstreamError, isRetryableStatus } from '../../src/upstream/classify-upstream-error.js';

const POLICY: RetryPolicy = { retries: 3, baseDelayMs: 500, maxDelayMs: 30_000 };
const NOW = Date.parse('2024-05-01T12:00:00Z');

/** A sleep that records what it was asked to wait and resolves at once. */
function recordingSleep(): { sleep: NonNullable<RetryOptions['sleep']>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

/** An attempt function that fails with the given errors in order, then answers `value`. */
function failThen<T>(errors: readonly unknown[], value: T): { attempt: (n: number) => Promise<T>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    attempt: async (n) => {
      calls.push(n);
      const error = errors[calls.length - 1];
      if (error !== undefined) throw error;
      return value;
    },
  };
}

const classify = (error: unknown) => classifyUpstreamError(error, NOW);

describe('classifyUpstreamError', () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    it(`when the upstream answers ${status}, then the failure is retryable`, () => {
      const decision = classifyUpstreamError(new UpstreamStatusError(status), NOW);
      assert.equal(decision.retryable, true);
      assert.equal(decision.reason, `status ${status}`);
      assert.equal(isRetryableStatus(status), true);
    });
  }

  for (const status of [400, 401, 403, 404, 422]) {
    it(`when the upstream answers ${status}, then the failure is not retryable`, () => {
      assert.equal(classifyUpstreamError(new UpstreamStatusError(status), NOW).retryable, false);
      assert.equal(isRetryableStatus(status), false);
    });
  }

  it('when the upstream answers 429 with Retry-After: 2, then the decision asks for 2000 ms', () => {
    assert.equal(classifyUpstreamError(new UpstreamStatusError(429, '2'), NOW).retryAfterMs, 2000);
  });

  it('when the upstream answers 503 with an HTTP-date Retry-After, then the wait is measured from the injected now', () => {
    assert.equal(classifyUpstreamError(new UpstreamStatusError(503, 'Wed, 01 May 2024 12:00:10 GMT'), NOW).retryAfterMs, 10_000);
  });

  it('when the upstream answers 503 with an unreadable Retry-After, then no wait is requested', () => {
    assert.equal(classifyUpstreamError(new UpstreamStatusError(503, 'whenever'), NOW).retryAfterMs, undefined);
  });

  it('when the connection fails, then the failure is retryable as "network"', () => {
    assert.deepEqual(classifyUpstreamError(new UpstreamNetworkError('ECONNRESET'), NOW), { retryable: true, reason: 'network' });
  });

  it('when the body is too large, then the failure is not retryable', () => {
    assert.equal(classifyUpstreamError(new UpstreamTooLargeError(1024), NOW).retryable, false);
  });

  it('when the body is not JSON, then the failure is not retryable', () => {
    assert.equal(classifyUpstreamError(new UpstreamInvalidJsonError('unexpected token'), NOW).retryable, false);
  });

  it('when the failure is a store or programming error, then it is not retryable', () => {
    assert.equal(classifyUpstreamError(new StoreUnavailableError('write'), NOW).retryable, false);
    assert.equal(classifyUpstreamError(new TypeError('x is undefined'), NOW).retryable, false);
    assert.equal(classifyUpstreamError('a string', NOW).retryable, false);
  });
});

describe('withRetry', () => {
  it('when the first attempt succeeds, then it returns without sleeping', async () => {
    const { sleep, delays } = recordingSleep();
    const { attempt, calls } = failThen([], 'ok');
    assert.equal(await withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0 }), 'ok');
    assert.deepEqual(calls, [1]);
    assert.deepEqual(delays, []);
  });

  it('when two attempts fail with 503, then the third succeeds after two jittered waits', async () => {
    const { sleep, delays } = recordingSleep();
    const { attempt, calls } = failThen([new UpstreamStatusError(503), new UpstreamStatusError(503)], 'ok');
    const result = await withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0.5 });
    assert.equal(result, 'ok');
    assert.deepEqual(calls, [1, 2, 3]);
    assert.deepEqual(delays, [250, 500]);
  });

  it('when every attempt fails with a retryable error and retries is 3, then it makes exactly 4 attempts and rethrows the last error', async () => {
    const { sleep, delays } = recordingSleep();
    const errors = [1, 2, 3, 4, 5].map((n) => new UpstreamNetworkError(`failure ${n}`));
    const { attempt, calls } = failThen(errors, 'never');
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 1 - Number.EPSILON }), (error) => error === errors[3]);
    assert.deepEqual(calls, [1, 2, 3, 4]);
    assert.deepEqual(delays, [499, 999, 1999]);
  });

  it('when retries is 0, then it makes exactly one attempt', async () => {
    const { sleep, delays } = recordingSleep();
    const error = new UpstreamStatusError(500);
    const { attempt, calls } = failThen([error], 'never');
    await assert.rejects(withRetry(attempt, { policy: { ...POLICY, retries: 0 }, classify, sleep }), (thrown) => thrown === error);
    assert.deepEqual(calls, [1]);
    assert.deepEqual(delays, []);
  });

  it('when the error is not retryable, then it stops at once without sleeping', async () => {
    const { sleep, delays } = recordingSleep();
    const error = new UpstreamStatusError(404);
    const { attempt, calls } = failThen([error], 'never');
    const onRetry = (): void => assert.fail('onRetry must not be called');
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, sleep, onRetry }), (thrown) => thrown === error);
    assert.deepEqual(calls, [1]);
    assert.deepEqual(delays, []);
  });

  it('when a later attempt fails with a non-retryable error, then that error is thrown without further attempts', async () => {
    const { sleep, delays } = recordingSleep();
    const fatal = new UpstreamTooLargeError(1024);
    const { attempt, calls } = failThen([new UpstreamStatusError(503), fatal], 'never');
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0 }), (thrown) => thrown === fatal);
    assert.deepEqual(calls, [1, 2]);
    assert.deepEqual(delays, [0]);
  });

  it('when the API answers 429 with Retry-After: 2, then it waits 2 s instead of the backoff', async () => {
    const { sleep, delays } = recordingSleep();
    const { attempt } = failThen([new UpstreamStatusError(429, '2')], 'ok');
    const random = (): number => assert.fail('random must not be drawn when Retry-After is given');
    assert.equal(await withRetry(attempt, { policy: POLICY, classify, sleep, random }), 'ok');
    assert.deepEqual(delays, [2000]);
  });

  it('when Retry-After asks for more than maxDelayMs, then it waits maxDelayMs', async () => {
    const { sleep, delays } = recordingSleep();
    const { attempt } = failThen([new UpstreamStatusError(503, '3600')], 'ok');
    await withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0 });
    assert.deepEqual(delays, [30_000]);
  });

  it('when retrying, then onRetry receives the retry number, delay, reason and error', async () => {
    const { sleep } = recordingSleep();
    const first = new UpstreamStatusError(503);
    const second = new UpstreamNetworkError('ETIMEDOUT');
    const third = new UpstreamStatusError(429, '7');
    const { attempt } = failThen([first, second, third], 'ok');
    const infos: RetryInfo[] = [];
    await withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0.5, onRetry: (info) => infos.push(info) });
    assert.deepEqual(infos, [
      { retry: 1, delayMs: 250, reason: 'status 503', error: first },
      { retry: 2, delayMs: 500, reason: 'network', error: second },
      { retry: 3, delayMs: 7000, reason: 'status 429', error: third },
    ]);
  });

  it('when the signal aborts during the sleep, then it rejects with the signal reason at once and makes no further attempt', async () => {
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const sleeps: number[] = [];
    // A sleep that never ends by itself: only the abort can end it, as the contract requires.
    const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
      new Promise((_resolve, reject) => {
        sleeps.push(ms);
        assert.ok(signal, 'the signal is passed to sleep');
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        queueMicrotask(() => controller.abort(reason));
      });
    const { attempt, calls } = failThen([new UpstreamStatusError(503), new UpstreamStatusError(503)], 'never');
    await assert.rejects(
      withRetry(attempt, { policy: POLICY, classify, sleep, random: () => 0.5, signal: controller.signal }),
      (thrown) => thrown === reason,
    );
    assert.deepEqual(calls, [1]);
    assert.deepEqual(sleeps, [250]);
  });

  it('when the sleep rejects with its own error after an abort, then the signal reason is still what is thrown', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const sleep = async (): Promise<void> => {
      controller.abort(reason);
      throw new Error('AbortError from the timer');
    };
    const { attempt, calls } = failThen([new UpstreamNetworkError('reset')], 'never');
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, sleep, signal: controller.signal }), (thrown) => thrown === reason);
    assert.deepEqual(calls, [1]);
  });

  it('when the signal is already aborted, then no attempt is made', async () => {
    const controller = new AbortController();
    const reason = new Error('already stopped');
    controller.abort(reason);
    const { attempt, calls } = failThen([], 'ok');
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, signal: controller.signal }), (thrown) => thrown === reason);
    assert.deepEqual(calls, []);
  });

  it('when the signal aborts during an attempt, then the signal reason is thrown instead of retrying', async () => {
    const controller = new AbortController();
    const reason = new Error('shutdown');
    const { sleep, delays } = recordingSleep();
    const calls: number[] = [];
    const attempt = async (n: number): Promise<string> => {
      calls.push(n);
      controller.abort(reason);
      throw new UpstreamNetworkError('aborted');
    };
    await assert.rejects(withRetry(attempt, { policy: POLICY, classify, sleep, signal: controller.signal }), (thrown) => thrown === reason);
    assert.deepEqual(calls, [1]);
    assert.deepEqual(delays, []);
  });

  it('when no sleep is injected and the signal aborts during the wait, then the real timer is cancelled at once', async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const { attempt, calls } = failThen([new UpstreamStatusError(503, '30')], 'never');
    const started = performance.now();
    const pending = withRetry(attempt, { policy: POLICY, classify, signal: controller.signal });
    setImmediate(() => controller.abort(reason));
    await assert.rejects(pending, (thrown) => thrown === reason);
    assert.ok(performance.now() - started < 5000, 'did not wait out the 30 s Retry-After');
    assert.deepEqual(calls, [1]);
  });
});
