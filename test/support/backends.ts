import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/stores/sqlite/sqlite-store.js';
import { postgresBackend } from './postgres-backend.js';
import { dynamodbBackend } from './dynamodb-backend.js';
import { mongodbBackend } from './mongodb-backend.js';
import type { Store, StoreOptions } from '../../src/stores/store.js';

/**
 * A store backend as the tests see it: start a real server (or point at one given by a TEST_* variable,
 * see the *-backend.ts files here), make stores on it, give the built service the environment that selects it, stop.
 */
export interface StoreBackend {
  readonly name: string;
  start(): Promise<BackendHarness>;
}

export interface BackendHarness {
  /** A new, uninitialised store on this server; two calls with one tableName share the same data. */
  createStore(options: StoreOptions): Store;
  /** The environment that makes the built service use this server with the given table. */
  serviceEnv(tableName: string): Record<string, string>;
  stop(): Promise<void>;
}

export const sqliteBackend: StoreBackend = {
  name: 'sqlite',
  async start() {
    const dir = await mkdtemp(join(tmpdir(), 'ingestion-sqlite-'));
    const pathFor = (tableName: string) => join(dir, `${tableName}.db`);
    return {
      createStore: (options) => new SqliteStore({ ...options, path: pathFor(options.tableName) }),
      serviceEnv: (tableName) => ({ STORAGE_TYPE: 'sqlite', SQLITE_PATH: pathFor(tableName), TABLE_NAME: tableName }),
      stop: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

export const ALL_BACKENDS: readonly StoreBackend[] = [sqliteBackend, postgresBackend, dynamodbBackend, mongodbBackend];

/** The backends to test: all of them, or those named in TEST_STORES (comma-separated), as Kysely's DIALECTS. */
export function selectedBackends(): readonly StoreBackend[] {
  const wanted = process.env.TEST_STORES?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!wanted || wanted.length === 0) return ALL_BACKENDS;
  const unknown = wanted.filter((name) => !ALL_BACKENDS.some((b) => b.name === name));
  if (unknown.length > 0) throw new Error(`TEST_STORES names unknown stores: ${unknown.join(', ')}`);
  return ALL_BACKENDS.filter((b) => wanted.includes(b.name));
}

let tableCounter = 0;
/** A table name no other test in this process uses, so tests share a server without cleaning up. */
export function uniqueTableName(prefix = 't'): string {
  tableCounter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${tableCounter}`;
}
