import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDbStore } from '../../src/stores/dynamodb/dynamodb-store.js';
import type { DynamoDbStoreConfig } from '../../src/stores/dynamodb/dynamodb-store-config.js';
import type { StoreOptions } from '../../src/stores/store.js';
import type { StoreBackend } from './backends.js';

// dynalite ships no type declarations; this is the one function of it the tests use.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export const TEST_REGION = 'us-west-2';
/** Dummy keys set on the client itself, so a test never depends on (or finds) real AWS credentials. */
export const TEST_CREDENTIALS = Object.freeze({ accessKeyId: 'test', secretAccessKey: 'test' });
/** Quick retries: the tests inject throttling on purpose and should not wait out production backoff. */
export const TEST_RETRY = Object.freeze({ retries: 5, baseDelayMs: 5, maxDelayMs: 50 });

/** Starts dynalite in memory on 127.0.0.1 and a random port; tables are ACTIVE as soon as they are created. */
export async function startDynalite(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export function testStoreConfig(endpoint: string, options: StoreOptions, overrides: Partial<DynamoDbStoreConfig> = {}): DynamoDbStoreConfig {
  return { ...options, region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS, createTables: true, retry: TEST_RETRY, ...overrides };
}

/** Uses TEST_DYNAMODB_ENDPOINT when given, else an in-process dynalite; in CI a server that will not start fails the run. */
export const dynamodbBackend: StoreBackend = {
  name: 'dynamodb',
  async start() {
    const given = process.env.TEST_DYNAMODB_ENDPOINT?.trim();
    const server = given ? { endpoint: given, close: async () => {} } : await startDynalite();
    return {
      createStore: (options) => new DynamoDbStore(testStoreConfig(server.endpoint, options)),
      serviceEnv: (tableName) => ({
        STORAGE_TYPE: 'dynamodb',
        DYNAMODB_ENDPOINT: server.endpoint,
        AWS_REGION: TEST_REGION,
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        TABLE_NAME: tableName,
      }),
      stop: server.close,
    };
  },
};
