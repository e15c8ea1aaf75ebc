import type Database from 'better-sqlite3';

/**
 * How the store's one writing connection writes (sqlite-writer-worker.ts). The benchmark's raw SQLite baseline
 * applies the same, so that both do the same work per commit on the file.
 */
export function applyWriterPragmas(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  // NORMAL loses no committed transaction on a process crash in WAL mode, only on power loss.
  db.pragma('synchronous = NORMAL');
  // Checkpoints run when asked, after a run, instead of inside the commit that passes 1,000 pages.
  db.pragma('wal_autocheckpoint = 0');
}
