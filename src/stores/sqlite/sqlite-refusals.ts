/**
 * SQLite's answers that stay the same until an operator changes something: a file made read-only under the
 * running service (a volume remounted read-only after an I/O error), a corrupt file, a table dropped or
 * altered by hand. In our words, for the message of a StoreUnavailableError (see its `refusal`); anything
 * else (a busy lock, a full disk, an I/O error) may pass, and keeps "try again shortly".
 */
const LASTING_CODES: ReadonlyArray<readonly [code: string, refusal: string]> = [
  ['SQLITE_READONLY', 'the database file or its folder became read-only for this process'],
  ['SQLITE_CORRUPT', 'the database file is corrupt'],
  ['SQLITE_NOTADB', 'the database file is no longer a SQLite database'],
];

/** SQLite reports these as plain SQLITE_ERROR, with messages it has long kept the same. */
const LASTING_MESSAGES: ReadonlyArray<readonly [message: RegExp, refusal: string]> = [
  [/^no such table\b/, 'a table of the service does not exist'],
  [/^(no such column\b|table \S+ has no column named\b)/, 'a table of the service lacks a column it needs (altered by hand?)'],
];

export function lastingRefusal(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  // Extended codes (SQLITE_CORRUPT_INDEX) read as their primary code.
  const byCode = LASTING_CODES.find(([lasting]) => code === lasting || code.startsWith(`${lasting}_`));
  if (byCode) return byCode[1];
  if (code !== 'SQLITE_ERROR' || typeof message !== 'string') return undefined;
  return LASTING_MESSAGES.find(([pattern]) => pattern.test(message))?.[1];
}
