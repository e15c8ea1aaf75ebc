import { UpstreamNetworkError, UpstreamStatusError } from '../errors.js';
import { parseRetryAfter } from '../retry/backoff.js';
import type { RetryDecision } from '../retry/retry.js';

/** Statuses worth another attempt: the server may answer differently soon. Other 4xx never are. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Which upstream failures are retried: network errors and timeouts, 408, 429 and 5xx, honouring Retry-After.
 * Everything else (other 4xx, a body too large, invalid JSON, a store failure) fails the run at once.
 */
export function classifyUpstreamError(error: unknown, nowMs: number = Date.now()): RetryDecision {
  if (error instanceof UpstreamStatusError) {
    return {
      retryable: isRetryableStatus(error.upstreamStatus),
      retryAfterMs: parseRetryAfter(error.retryAfter, nowMs),
      reason: `status ${error.upstreamStatus}`,
    };
  }
  if (error instanceof UpstreamNetworkError) return { retryable: true, reason: 'network' };
  return { retryable: false, reason: 'fatal' };
}
