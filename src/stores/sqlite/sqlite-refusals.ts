/**
 * SQLite's answers that stay the same until an operator changes something: a file made read-only under the
 * running service (a volume remounted read-only after an I/O error), a corrupt file, a table dropped or
 * altered by hand. In our words, for the message of a StoreUnavailableError (see its `refusal`); anything
 * else (a busy lock, a full disk, an I/O error) may pass, and keeps "try again shortly".
 */
const LASTING_CODES: Readonly<Record<string, string>> = {
  SQLITE_READONLY: 'the database file or its folder became read-only for this process',
  SQLITE_CORRUPT: 'the database file is corrupt',
  SQLITE_NOTADB: 'the database file is no longer a SQLite database',
};

/** SQLite reports these as plain SQLITE_ERROR, with messages it has long kept the same. */
const LASTING_MESSAGES: ReadonlyArray<readonly [message: RegExp, refusal: string]> = [
  [/^no such table\b/, 'a table of the service does not exist'],
  [/^(no such column\b|table \S+ has no column named\b)/, 'a table of the service lacks a column it needs (altered by hand?)'],
];

/** The entry for `code` in `words`, where SQLite's extended codes (SQLITE_CANTOPEN_ISDIR) read as their primary one. */
export function byPrimaryCode(words: Readonly<Record<string, string>>, code: string): string | undefined {
  const primary = Object.keys(words).find((known) => code === known || code.startsWith(`${known}_`));
  return primary === undefined ? undefined : words[primary];
}

export function lastingRefusal(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const byCode = byPrimaryCode(LASTING_CODES, code);
  if (byCode) return byCode;
  if (code !== 'SQLITE_ERROR' || typeof message !== 'string') return undefined;
  return LASTING_MESSAGES.find(([pattern]) => pattern.test(message))?.[1];
}
