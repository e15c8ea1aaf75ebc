import { MongoBulkWriteError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { errorCode, StoreUnavailableError } from '../../errors.js';
import { NETWORK_REASONS } from '../network-reasons.js';
import { connectionStringParts } from './mongodb-store-config.js';

/**
 * Runs one driver call and turns any failure into StoreUnavailableError. The driver's text can hold the host
 * list of the URI, so it stays in `cause` and never becomes the message. No retry here: the driver retries a
 * read or write once after a network error or an election (retryable reads and writes), and a failed run is
 * retried by the ingestion layer, so there is one retry layer per level and none stacked.
 */
export async function callMongo<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(operation, { cause: error });
  }
}

const DUPLICATE_KEY = 11000;

/** Whether the error is MongoDB's E11000 (a unique index refused a second document with the same key). */
export function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

/** The op indexes a bulk write refused only for duplicate keys, or undefined when anything else failed. */
export function duplicateKeyIndexes(error: unknown): number[] | undefined {
  if (!(error instanceof MongoBulkWriteError)) return undefined;
  const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  if (writeErrors.length === 0 || writeErrors.some((e) => e.code !== DUPLICATE_KEY)) return undefined;
  return writeErrors.map((e) => e.index);
}

/** AuthenticationFailed: a wrong user, password or authSource. */
const AUTHENTICATION_FAILED = 18;

/**
 * Why connecting failed, for the one line a failed start prints: the host list of the URI (never its user or
 * password) and the reason in our words, where the driver's text would carry the whole topology.
 */
export function describeMongoConnectFailure(uri: string, error: unknown): string {
  return `MongoDB at ${connectionStringParts(uri)?.hosts ?? 'the configured server'}: ${connectReason(error)}`;
}

function connectReason(error: unknown): string {
  if (error instanceof MongoServerError && error.code === AUTHENTICATION_FAILED) return 'authentication failed';
  if (error instanceof MongoServerSelectionError) {
    // Each server the driver tried keeps its last error; a network one names the system's code in its cause.
    for (const server of error.reason?.servers.values() ?? []) {
      const failure = server.error;
      if (failure instanceof MongoServerError && failure.code === AUTHENTICATION_FAILED) return 'authentication failed';
      const reason = NETWORK_REASONS[errorCode(failure?.cause) ?? errorCode(failure) ?? ''];
      if (reason) return reason;
    }
    return 'no server answered in time';
  }
  return 'connection failed';
}
