import type { RetryPolicy } from '../../config.js';
import { errorCode, StoreUnavailableError } from '../../errors.js';
import { withRetry, type RetryDecision } from '../../retry/retry.js';
import { NETWORK_REASONS } from '../network-reasons.js';

/** DynamoDB's names for "slow down": retried with the shared backoff, never counted as an outage at once. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

/** Socket failures worth another attempt: the endpoint restarted, or the connection dropped or stalled. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** A batch call that still had items or keys left after the attempt; retried like throttling. */
export class UnprocessedBatchError extends Error {
  readonly remaining: number;

  constructor(operation: string, remaining: number) {
    super(`${operation}: ${remaining} items left unprocessed`);
    this.name = 'UnprocessedBatchError';
    this.remaining = remaining;
  }
}

interface AwsLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** The only place that decides which DynamoDB failures are worth another attempt. */
export function classifyDynamoDbError(error: unknown): RetryDecision {
  const e = (error ?? {}) as AwsLikeError;
  if (error instanceof UnprocessedBatchError) return { retryable: true, reason: 'unprocessed items' };
  if (e.name !== undefined && THROTTLING.has(e.name)) return { retryable: true, reason: 'throttled' };
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return { retryable: true, reason: 'network' };
  if (e.name === 'TimeoutError') return { retryable: true, reason: 'timeout' };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return { retryable: true, reason: `status ${status}` };
  return { retryable: false, reason: e.name ?? 'error' };
}

/** Whether the error is DynamoDB's answer that a ConditionExpression did not hold. */
export function isConditionFailed(error: unknown): boolean {
  return (error as AwsLikeError | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * Runs one DynamoDB call under the shared retry policy (the SDK's own retries are off, so there is one layer),
 * and turns what still fails into StoreUnavailableError. AWS's text stays in `cause`, never in the message.
 * Errors `expected` by the caller (a failed condition, a missing table) pass through untouched.
 */
export async function callDynamoDb<T>(
  operation: string,
  policy: RetryPolicy,
  attempt: () => Promise<T>,
  expected: (error: unknown) => boolean = () => false,
): Promise<T> {
  try {
    return await withRetry(attempt, {
      policy,
      classify: (error) => (expected(error) ? { retryable: false, reason: 'expected' } : classifyDynamoDbError(error)),
    });
  } catch (error) {
    if (expected(error) || error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(operation, { cause: error, refusal: lastingRefusal(error) });
  }
}

/** What AWS answers for credentials it does not take, or a role without the permission. */
const REFUSALS: Readonly<Record<string, string>> = {
  UnrecognizedClientException: 'the credentials were refused',
  InvalidSignatureException: 'the credentials were refused',
  ExpiredTokenException: 'the credentials have expired',
  AccessDeniedException: 'access denied',
  CredentialsProviderError: 'no AWS credentials were found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an IAM role of the task or pod)',
};

/** After start, a refusal above or a table deleted under the service: AWS answers the same until fixed. */
function lastingRefusal(error: unknown): string | undefined {
  const name = (error as AwsLikeError | undefined)?.name;
  if (name === 'ResourceNotFoundException') return 'a table of the service does not exist';
  return name === undefined ? undefined : REFUSALS[name];
}

/**
 * A failure to reach DynamoDB at start, said with where (the endpoint, or AWS's region) and why in our words:
 * the network's, to try again; AWS's refusals, to fix. The SDK's text stays in `cause`. Anything else is
 * returned as it came.
 */
export function describeStartFailure(error: unknown, where: string): unknown {
  const cause = error instanceof StoreUnavailableError ? error.cause : error;
  const network = NETWORK_REASONS[errorCode(cause) ?? ''];
  if (network) return new StoreUnavailableError(`DynamoDB at ${where}: ${network}`, { cause });
  const name = (cause as { name?: unknown } | null)?.name;
  const refusal = typeof name === 'string' ? REFUSALS[name] : undefined;
  return refusal ? new StoreUnavailableError(`DynamoDB at ${where}`, { cause, refusal }) : error;
}
