import type { Config } from '../config.js';
import { StoreNotAvailableError } from '../errors.js';
import { RUN_HISTORY_LIMIT, type Store, type StoreOptions } from './store.js';

/**
 * Picks the store named by STORAGE_TYPE. Each backend is imported on demand, so a SQLite deployment never
 * loads the PostgreSQL, MongoDB or AWS drivers. Nothing connects until the caller runs `init()`.
 */
export async function createStore(config: Config): Promise<Store> {
  const options: StoreOptions = {
    tableName: config.tableName,
    source: config.sourceName,
    batchSize: config.batchSize,
    runHistoryLimit: RUN_HISTORY_LIMIT,
  };
  switch (config.storageType) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/sqlite-store.js');
      return new SqliteStore({ ...options, path: config.sqlitePath });
    }
    case 'postgresql':
    case 'mongodb':
    case 'dynamodb':
      throw new StoreNotAvailableError(config.storageType);
  }
}

