/**
 * The tables the SQL stores (SQLite, PostgreSQL) keep for one TABLE_NAME, and the columns each must have. A
 * table of that name that exists with other columns (another service's, or one altered by hand) would fail
 * every statement at run time, each failure worded as an outage; checked at start, it is a setting to fix.
 */
function requiredColumns(table: string): ReadonlyArray<readonly [name: string, columns: readonly string[]]> {
  return [
    [table, ['id', 'user_id', 'title', 'body', 'ingested_at', 'source']],
    [`${table}_runs`, ['run_id', 'source', 'status', 'started_at', 'finished_at', 'duration_ms', 'records_ingested', 'records_rejected', 'records_changed', 'error', 'replica']],
    [`${table}_status`, ['source', 'status', 'current_run_id', 'last_attempt', 'last_successful_run', 'records_ingested', 'records_rejected', 'last_error', 'last_duration_ms', 'last_run_replica']],
    [`${table}_lease`, ['source', 'owner', 'expires_at', 'last_started_at']],
  ];
}

/** The names of the tables requiredColumns() checks, for a store to read their columns in one go. */
export function serviceTables(table: string): string[] {
  return requiredColumns(table).map(([name]) => name);
}

/** What a store found: each table's columns, and the columns of the records table's primary key. */
export interface FoundSchema {
  readonly columns: ReadonlyMap<string, ReadonlySet<string>>;
  readonly recordsPrimaryKey: readonly string[];
}

/** Why the tables cannot serve this service, in words for a start-up error naming TABLE_NAME; undefined if they can. */
export function schemaMismatch(table: string, found: FoundSchema): string | undefined {
  for (const [name, required] of requiredColumns(table)) {
    const present = found.columns.get(name);
    if (present === undefined) return `table "${name}" does not exist, yet its migrations are recorded (dropped or renamed by hand?)`;
    const missing = required.filter((column) => !present.has(column));
    if (missing.length > 0) return `table "${name}" lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} this service needs (another service's table, or altered by hand?)`;
  }
  if (found.recordsPrimaryKey.join(',') !== 'id') return `table "${table}" has no primary key on id, which this service needs (altered by hand?)`;
  return undefined;
}

/** A database a newer version of the service migrated: this one would not know what its tables hold now. */
export function newerSchema(applied: number, known: number): string | undefined {
  return applied > known ? `its tables are at schema ${applied}, newer than this version knows (${known}): run that version or a newer one` : undefined;
}
