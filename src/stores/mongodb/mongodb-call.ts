import { MongoBulkWriteError, MongoServerError } from 'mongodb';
import { StoreUnavailableError } from '../../errors.js';

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
