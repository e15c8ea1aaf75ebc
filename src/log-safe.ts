import { AppError, errorCode } from './errors.js';

/** At most `max` UTF-16 units of `text`, never ending in half a surrogate pair (an emoji cut in two). */
export function clipped(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return text.slice(0, end);
}

/** A `name=value` of a query string, or of a path segment's `;` parameters. */
const PARAMETER = /([?&;])([^=&#;?]*)=([^&#;]*)/g;

/**
 * Parameter names that usually hold a secret (`api_key`, `x-api-key`, `client_secret`, `X-Amz-Signature`,
 * `session_id`, ...), read percent-decoded, in any case, without `-`, `_`, `.` and spaces. Hiding a harmless
 * value now and then (`?author=`) costs less than logging a credential.
 */
const SECRET_NAME = /key|token|secret|passw|pwd|auth|signature|^sig$|jwt|session|credential|cookie/;

function isSecretName(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // A name that is not valid percent-encoding is matched as sent.
  }
  return SECRET_NAME.test(decoded.toLowerCase().replace(/[-_.\s]/g, ''));
}

/** A URL as a log line or an error message may show it: secret parameter values replaced by `[redacted]`. */
export function withoutQuerySecrets(url: string): string {
  if (!url.includes('?') && !url.includes(';')) return url;
  return url.replace(PARAMETER, (parameter, separator: string, name: string) => (isSecretName(name) ? `${separator}${name}=[redacted]` : parameter));
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
