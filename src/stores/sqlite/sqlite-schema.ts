/** One migration: columns to add where missing (SQLite has no ADD COLUMN IF NOT EXISTS), then its SQL. */
export interface SqliteMigration {
  readonly addColumns?: ReadonlyArray<readonly [table: string, column: string, type: string]>;
  readonly sql: string;
}

/**
 * Versioned migrations for the SQLite store. Each runs once, in order, inside the transaction that records
 * it in `<table>_migrations`, so two processes starting together apply each exactly once. Each is idempotent
 * too, so tables whose record of migrations was lost (copied into a new file without it) are taken as they are.
 */
export function sqliteMigrations(table: string): readonly SqliteMigration[] {
  return [
    {
      sql: `CREATE TABLE IF NOT EXISTS "${table}" (
       id INTEGER PRIMARY KEY,
       user_id INTEGER NOT NULL,
       title TEXT NOT NULL,
       body TEXT NOT NULL,
       ingested_at TEXT NOT NULL,
       source TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS "${table}_runs" (
       run_id TEXT PRIMARY KEY,
       source TEXT NOT NULL,
       status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed')),
       started_at TEXT NOT NULL,
       finished_at TEXT,
       duration_ms INTEGER,
       records_ingested INTEGER NOT NULL DEFAULT 0,
       records_rejected INTEGER NOT NULL DEFAULT 0,
       records_changed INTEGER,
       error TEXT
     );
     CREATE INDEX IF NOT EXISTS "${table}_runs_by_start" ON "${table}_runs" (source, started_at DESC);
     CREATE TABLE IF NOT EXISTS "${table}_status" (
       source TEXT PRIMARY KEY,
       status TEXT NOT NULL,
       current_run_id TEXT,
       last_attempt TEXT,
       last_successful_run TEXT,
       records_ingested INTEGER NOT NULL DEFAULT 0,
       records_rejected INTEGER NOT NULL DEFAULT 0,
       last_error TEXT,
       last_duration_ms INTEGER
     );`,
    },
    {
      addColumns: [
        [`${table}_runs`, 'replica', 'TEXT'],
        [`${table}_status`, 'last_run_replica', 'TEXT'],
      ],
      sql: `CREATE TABLE IF NOT EXISTS "${table}_lease" (
       source TEXT PRIMARY KEY,
       owner TEXT,
       expires_at TEXT,
       last_started_at TEXT
     );`,
    },
  ];
}
