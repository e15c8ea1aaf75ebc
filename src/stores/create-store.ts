import type { Config } from '../config.js';
import { lockTimeoutFor } from './postgres/postgres-store-config.js';
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
    case 'postgresql': {
      const { PostgresStore } = await import('./postgres/postgres-store.js');
      return new PostgresStore({
        ...options,
        uri: config.postgresUri,
        poolSize: config.postgresPoolSize,
        connectRetry: config.retry,
        lockTimeoutMs: lockTimeoutFor(config.shutdownTimeoutMs),
      });
    }
    case 'dynamodb': {
      const { DynamoDbStore } = await import('./dynamodb/dynamodb-store.js');
      return new DynamoDbStore({ ...options, region: config.awsRegion, endpoint: config.dynamodbEndpoint, createTables: config.dynamodbCreateTables, retry: config.retry });
    }
    case 'mongodb': {
      const { MongoDbStore } = await import('./mongodb/mongodb-store.js');
      return new MongoDbStore({ ...options, uri: config.mongodbUri });
    }
  }
}

