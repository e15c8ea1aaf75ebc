import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryPolicy } from '../../src/config.js';
import { backoffDelay, nextDelay, parseRetryAfter } from '../../src/retry/backoff.js';

const POLICY: RetryPolicy = { retries: 10, baseDelayMs: 500, maxDelayMs: 30_000 };
const JUST_UNDER_ONE = 1 - Number.EPSILON;
const never = (): number => assert.fail('random must not be called when Retry-After is given');

describe('backoffDelay (full jitter)', () => {
  it('when random is 0, then the wait is 0 for every retry', () => {
    for (let retry = 1; retry <= 10; retry++) assert.equal(backoffDelay(retry, POLICY, () => 0), 0);
  });

  it('when random is just under 1, then the wait is just under the ceiling', () => {
    assert.equal(backoffDelay(1, POLICY, () => JUST_UNDER_ONE), 499);
    assert.equal(backoffDelay(2, POLICY, () => JUST_UNDER_ONE), 999);
  });

  it('when the retry number grows, then the ceiling doubles from the base delay', () => {
    const ceilings = [1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(retry, POLICY, () => JUST_UNDER_ONE) + 1);
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16_000]);
  });

  it('when the doubled ceiling passes maxDelayMs, then it is capped at maxDelayMs', () => {
    assert.equal(backoffDelay(7, POLICY, () => JUST_UNDER_ONE), 29_999);
    assert.equal(backoffDelay(50, POLICY, () => JUST_UNDER_ONE), 29_999);
    assert.equal(backoffDelay(2000, POLICY, () => JUST_UNDER_ONE), 29_999);
  });

  it('when random is one half, then the wait is half the ceiling', () => {
    assert.equal(backoffDelay(3, POLICY, () => 0.5), 1000);
  });

  it('when random is any value in [0, 1), then the wait is a whole number in [0, ceiling)', () => {
    for (let i = 0; i < 200; i++) {
      const r = i / 200;
      for (const retry of [1, 4, 9]) {
        const ceiling = Math.min(POLICY.maxDelayMs, POLICY.baseDelayMs * 2 ** (retry - 1));
        const wait = backoffDelay(retry, POLICY, () => r);
        assert.ok(Number.isInteger(wait) && wait >= 0 && wait < ceiling, `retry ${retry}, random ${r}: ${wait}`);
      }
    }
  });

  it('when the base delay is 0, then every wait is 0', () => {
    assert.equal(backoffDelay(5, { retries: 3, baseDelayMs: 0, maxDelayMs: 30_000 }, () => JUST_UNDER_ONE), 0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');

  it('when the header is absent, then it returns undefined', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('when the header is delay-seconds, then it returns milliseconds', () => {
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter(' 120 ', now), 120_000);
    assert.equal(parseRetryAfter('0', now), 0);
  });

  it('when the header is an HTTP date in the future, then it returns the time until it from the injected now', () => {
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:01:00 GMT', now), 60_000);
  });

  it('when the header is an HTTP date in the past, then it returns 0', () => {
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:59:00 GMT', now), 0);
  });

  for (const garbage of ['soon', '', '-5', '1.5', 'later today', '2s']) {
    it(`when the header is ${JSON.stringify(garbage)}, then it returns undefined`, () => {
      assert.equal(parseRetryAfter(garbage, now), undefined);
    });
  }
});

describe('nextDelay', () => {
  it('when the server gave Retry-After, then that wait is used without drawing a random number', () => {
    assert.equal(nextDelay(1, POLICY, 2000, never), 2000);
    assert.equal(nextDelay(1, POLICY, 0, never), 0);
  });

  it('when Retry-After exceeds maxDelayMs, then the wait is capped at maxDelayMs', () => {
    assert.equal(nextDelay(1, POLICY, 3_600_000, never), 30_000);
  });

  it('when there is no Retry-After, then the jittered backoff is used', () => {
    assert.equal(nextDelay(3, POLICY, undefined, () => JUST_UNDER_ONE), 1999);
    assert.equal(nextDelay(3, POLICY, undefined, () => 0), 0);
  });
});
