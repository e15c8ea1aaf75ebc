import { createHash } from 'node:crypto';

/**
 * Versioned migrations for the PostgreSQL store. Each runs once, in order, inside the transaction that records
 * it in `<table>_migrations`; that transaction first takes an advisory lock (migrationLockKey), so replicas
 * starting together apply each migration exactly once and never race on CREATE TABLE.
 *
 * Timestamps are kept as the RFC 3339 UTC text the service wrote (`toISOString()`), so they come back
 * byte for byte. They use the "C" collation: fixed-width ISO strings then sort bytewise, which is time order,
 * whatever the database's locale.
 */
export function postgresMigrations(table: string): readonly string[] {
  const q = quoteIdentifier;
  return [
    `CREATE TABLE IF NOT EXISTS ${q(table)} (
       id integer PRIMARY KEY,
       user_id integer NOT NULL,
       title text NOT NULL,
       body text NOT NULL,
       ingested_at text COLLATE "C" NOT NULL,
       source text NOT NULL
     );
     CREATE TABLE IF NOT EXISTS ${q(`${table}_runs`)} (
       run_id text COLLATE "C" PRIMARY KEY,
       source text NOT NULL,
       status text NOT NULL CHECK (status IN ('running', 'success', 'failed')),
       started_at text COLLATE "C" NOT NULL,
       finished_at text COLLATE "C",
       duration_ms bigint,
       records_ingested integer NOT NULL DEFAULT 0,
       records_rejected integer NOT NULL DEFAULT 0,
       records_changed integer,
       error text
     );
     CREATE INDEX IF NOT EXISTS ${q(`${table}_runs_by_start`)} ON ${q(`${table}_runs`)} (source, started_at DESC, run_id DESC);
     CREATE TABLE IF NOT EXISTS ${q(`${table}_status`)} (
       source text PRIMARY KEY,
       status text NOT NULL,
       current_run_id text COLLATE "C",
       last_attempt text COLLATE "C",
       last_successful_run text COLLATE "C",
       records_ingested integer NOT NULL DEFAULT 0,
       records_rejected integer NOT NULL DEFAULT 0,
       last_error text,
       last_duration_ms bigint
     );`,
    `ALTER TABLE ${q(`${table}_runs`)} ADD COLUMN IF NOT EXISTS replica text;
     ALTER TABLE ${q(`${table}_status`)} ADD COLUMN IF NOT EXISTS last_run_replica text;
     CREATE TABLE IF NOT EXISTS ${q(`${table}_lease`)} (
       source text PRIMARY KEY,
       owner text,
       expires_at text COLLATE "C",
       last_started_at text COLLATE "C"
     );`,
  ];
}

/** The table that records which migrations ran; created before the first migration, under the same lock. */
export function migrationsTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(`${table}_migrations`)} (version integer PRIMARY KEY, applied_at text NOT NULL)`;
}

/**
 * The advisory lock key for migrating one table: the first 8 bytes of a SHA-256 of its name, as a signed
 * 64-bit integer (decimal text, for `$1::bigint`). Computed here rather than with `hashtext()`, an internal
 * function whose result may change between PostgreSQL versions, so replicas always agree on the key.
 */
export function migrationLockKey(table: string): string {
  return createHash('sha256').update(`ingestion-service:migrate:${table}`).digest().readBigInt64BE(0).toString();
}

/**
 * Quotes an identifier as PostgreSQL requires. Config already limits TABLE_NAME to [A-Za-z_][A-Za-z0-9_]{2,47}
 * (with suffixes, still under the 63-byte limit); quoting keeps mixed case and reserved words working.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
