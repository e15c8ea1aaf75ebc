/**
 * The catalog of errors this service raises on purpose. Each has a stable `code`; those that reach an HTTP
 * client also carry the status they answer with. Only these messages (and request-validation messages) are
 * ever shown to a client or written to /status: anything else is logged and answered generically, so driver
 * text, SQL and file paths never leak.
 */
export class AppError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** A wrong environment variable: start-up stops with this message on one line. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', 500, `invalid configuration: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** A deep `offset` on a store where skipping costs a read per skipped record (DynamoDB). */
export class OffsetTooDeepError extends AppError {
  constructor(maxOffset: number) {
    super('OFFSET_TOO_DEEP', 400, `offset may be at most ${maxOffset} on this store; page with ?after=<last id> instead`);
  }
}

export class PostNotFoundError extends AppError {
  constructor(id: number) {
    super('POST_NOT_FOUND', 404, `no post with id ${id}; list the stored ids with GET /posts`);
  }
}

export class RouteNotFoundError extends AppError {
  constructor(method: string, path: string) {
    super('ROUTE_NOT_FOUND', 404, `no route ${method} ${path}; see GET /openapi.json for the API`);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(method: string, path: string, allowed: readonly string[]) {
    super('METHOD_NOT_ALLOWED', 405, `${path} takes ${allowed.join(', ')}, not ${method}`);
  }
}

/**
 * The store cannot be reached or refused the operation; the API answers 503, a run fails. `refusal` is the
 * store's answer in our words when waiting would not change it (no privilege, a dropped table): the message
 * then says what to fix instead of to try again.
 */
export class StoreUnavailableError extends AppError {
  constructor(operation: string, options?: { cause?: unknown; refusal?: string | undefined }) {
    const refusal = options?.refusal;
    super(
      'STORE_UNAVAILABLE',
      503,
      refusal === undefined
        ? `the store is unavailable (${operation}); try again shortly`
        : `the store refused (${operation}): ${refusal}; it will refuse again until an operator fixes that`,
      options,
    );
  }
}

/**
 * The store refused at start for a reason another attempt would not change (a path that is a directory, a
 * wrong password): the message names the setting to fix, where StoreUnavailableError says to try again.
 */
export class StoreSetupError extends AppError {
  constructor(variable: string, reason: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', 503, `${variable} cannot be used: ${reason}`, options);
  }
}

/** The upstream answered with an HTTP status that is not 2xx. Retried for 408, 429 and 5xx only. */
export class UpstreamStatusError extends AppError {
  readonly upstreamStatus: number;
  readonly retryAfter: string | undefined;

  /** `detail` says more where the status alone would mislead (a redirect the service stopped following). */
  constructor(upstreamStatus: number, retryAfter?: string, detail?: string) {
    super('UPSTREAM_STATUS', 502, `upstream answered HTTP ${upstreamStatus}${detail === undefined ? '' : ` (${detail})`}`);
    this.upstreamStatus = upstreamStatus;
    this.retryAfter = retryAfter;
  }
}

/** The upstream redirected to a URL it had already redirected to: no answer would come. Not retried. */
export class UpstreamRedirectLoopError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super('UPSTREAM_STATUS', 502, 'upstream redirects in a loop (to a URL already visited); point API_ENDPOINT at where the records are', options);
  }
}

/** The connection failed, was reset, or went silent past API_TIMEOUT. Always retried. */
export class UpstreamNetworkError extends AppError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('UPSTREAM_NETWORK', 502, `upstream request failed: ${reason}`, options);
  }
}

/** The body grew past MAX_RESPONSE_BYTES; never retried, since the next answer would be as large. */
export class UpstreamTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super('UPSTREAM_TOO_LARGE', 502, `upstream response exceeds MAX_RESPONSE_BYTES (${limitBytes} bytes)`);
  }
}

/** The body is not a JSON array. Not retried: the upstream sent it whole and would send it again. */
export class UpstreamInvalidJsonError extends AppError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('UPSTREAM_INVALID_JSON', 502, `upstream response is not a JSON array of records: ${reason}`, options);
  }
}

/** A run stopped because the service is shutting down. */
export class RunInterruptedError extends AppError {
  constructor(reason = 'interrupted by shutdown') {
    super('RUN_INTERRUPTED', 503, reason);
  }
}

/**
 * A run that a later run took over from (its replica stalled past LEASE_TTL, another took the lease and began
 * one): its records are older than the later run's, so it must not write over them. What became of its
 * records depends on whether the store's runs are atomic (nothing stored) or written as they come.
 */
export class RunSupersededError extends AppError {
  constructor({ atomicRuns }: { atomicRuns: boolean }) {
    const consequence = atomicRuns ? 'none of its records were stored' : 'it wrote no more records';
    super('RUN_SUPERSEDED', 409, `a run that began after this one took over (this run's lease had lapsed): ${consequence}`);
  }
}

/** A run stopped because its replica stalled past LEASE_TTL and another replica took the lease over. */
export class LeaseLostError extends RunInterruptedError {
  constructor() {
    super('interrupted: another replica took over the run lease');
  }
}

/** A run that outlasted RUN_TIMEOUT (a stuck or trickling upstream); it counts as a run for the schedule. */
export class RunTimedOutError extends RunInterruptedError {
  constructor(runTimeoutMs: number) {
    super(`interrupted: the run took longer than RUN_TIMEOUT (${runTimeoutMs / 1000}s)`);
  }
}

/** The `code` of any thrown value (a system errno, a driver's, ours), when it has a string one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** POST /ingest while a run is in flight, on this replica or another. */
export class RunInProgressError extends AppError {
  constructor(replica: string) {
    super('RUN_IN_PROGRESS', 409, `a run is in progress on replica ${replica}; follow it with GET /status`);
  }
}

/** HTTP/1.1 requires Host (RFC 9112, 3.2); answered here in the API's shape rather than by Node with no body. */
export class MissingHostError extends AppError {
  constructor() {
    super('INVALID_REQUEST', 400, 'an HTTP/1.1 request needs a Host header');
  }
}

/** A missing or wrong API key. The message never says which keys exist or how the one sent differed. */
export class UnauthorizedError extends AppError {
  constructor() {
    super('UNAUTHORIZED', 401, 'a valid API key is required: send Authorization: Bearer <key> or X-API-Key: <key>');
  }
}

/** POST /ingest on a service with no API_KEYS: starting runs must not be open to anyone. */
export class IngestDisabledError extends AppError {
  constructor() {
    super('INGEST_DISABLED', 403, 'POST /ingest is disabled: it needs API keys, and API_KEYS is not set');
  }
}

/** Past RATE_LIMIT requests in a minute from one client; Retry-After says when to come back. */
export class RateLimitedError extends AppError {
  constructor(limit: number, retryAfterSeconds: number) {
    super('RATE_LIMITED', 429, `more than ${limit} requests a minute from this client; retry after ${retryAfterSeconds} s`);
  }
}

/** The event loop lags past MAX_EVENT_LOOP_DELAY: answering at once beats queueing a request for ever. */
export class OverloadedError extends AppError {
  constructor() {
    super('OVERLOADED', 503, 'the service is overloaded; retry shortly');
  }
}

/** A request that arrived after SIGTERM: this replica is draining, and another one answers. */
export class ShuttingDownError extends AppError {
  constructor() {
    super('SHUTTING_DOWN', 503, 'this replica is shutting down; retry, and another replica answers');
  }
}

/** Every code above, for the test that keeps this catalog and the README in step. */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'OFFSET_TOO_DEEP',
  'POST_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'STORE_UNAVAILABLE',
  'UPSTREAM_STATUS',
  'UPSTREAM_NETWORK',
  'UPSTREAM_TOO_LARGE',
  'UPSTREAM_INVALID_JSON',
  'RUN_INTERRUPTED',
  'RUN_SUPERSEDED',
  'RUN_IN_PROGRESS',
  'UNAUTHORIZED',
  'INGEST_DISABLED',
  'RATE_LIMITED',
  'OVERLOADED',
  'SHUTTING_DOWN',
  'INVALID_REQUEST',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INTERNAL_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
