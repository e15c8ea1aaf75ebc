import { AppError, errorCode } from './errors.js';

/** Query values under names that usually hold a secret, such as `?api_key=`, hidden wherever a URL is shown. */
const SECRET_QUERY_VALUE = /([?&](?:api[_-]?key|apikey|key|token|access[_-]?token|secret|password|passwd|auth|signature|sig)=)[^&#]*/gi;

/** A URL as a log line or an error message may show it: secret query values replaced by `[redacted]`. */
export function withoutQuerySecrets(url: string): string {
  return url.includes('?') ? url.replace(SECRET_QUERY_VALUE, '$1[redacted]') : url;
}

/**
 * What of an error may go into a log line at info level and above: the catalog's code and message, or for
 * anything else only its class name and code, never a driver's message (it can hold SQL, a path or a
 * connection string). The cause chain is followed the same way, so a 503's reason is still visible.
 */
export function describeError(error: unknown, depth = 0): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return { type: typeof error };
  const summary: Record<string, unknown> = { type: (error as Error).name ?? 'Error' };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) summary.code = code;
  if (error instanceof AppError) summary.message = error.message;
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && depth < 3) summary.cause = describeError(cause, depth + 1);
  return summary;
}

/** A short failure reason for /status and /runs: catalog messages as they are, anything else by its name. */
export function publicReason(error: unknown): string {
  if (error instanceof AppError) return error.message;
  const code = errorCode(error);
  return `unexpected error${code === undefined ? '' : ` (${code})`}`;
}
