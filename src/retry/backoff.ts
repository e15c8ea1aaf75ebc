import type { RetryPolicy } from '../config.js';

/**
 * Pure backoff arithmetic. Exponential with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): the wait before retry n is uniform in [0, min(max, base * 2^(n-1))), which spreads replicas that
 * failed together. A server's Retry-After wins over the computed wait, but never past the policy's maximum.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Milliseconds to wait for a Retry-After header value (RFC 9110 §10.2.3): either delay-seconds or an
 * HTTP-date. Undefined when absent or unreadable, so the caller falls back to backoff.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Only an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") goes to Date.parse, which would read "1.5" as a year.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** The wait before retry n: Retry-After when the server gave one, capped at maxDelayMs; else jittered backoff. */
export function nextDelay(
  retry: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  return backoffDelay(retry, policy, random);
}
