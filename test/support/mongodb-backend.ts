import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { MongoDbStore } from '../../src/stores/mongodb/mongodb-store.js';
import type { BackendHarness, StoreBackend } from './backends.js';
import { freePort } from './free-port.js';

export { freePort };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FERRETDB_BINARY = join(REPO_ROOT, '.tools/bin/ferretdb');
const START_TIMEOUT_MS = 15_000;

export interface MongoServer {
  /** A connection string for the test database (the path names it). */
  readonly uri: string;
  stop(): Promise<void>;
}

export interface FerretDbOptions {
  /** Makes FerretDB call itself a replica set in `hello` (it still has no transactions). */
  readonly replSetName?: string;
}

/**
 * The server named by TEST_MONGODB_URI, or a fresh FerretDB (scripts/install-ferretdb.sh) on a random port with its
 * own SQLite directory. A missing binary or a server that will not start fails the run, in CI and elsewhere:
 * MongoDB is never skipped silently.
 */
export async function startMongoServer(options: FerretDbOptions = {}): Promise<MongoServer> {
  const given = process.env.TEST_MONGODB_URI?.trim();
  if (given) return { uri: given, stop: async () => undefined };
  try {
    await access(FERRETDB_BINARY, constants.X_OK);
  } catch {
    throw new Error(`FerretDB is not installed at ${FERRETDB_BINARY}: run scripts/install-ferretdb.sh (needs Go), or set TEST_MONGODB_URI to a running MongoDB`);
  }
  let lastError: unknown;
  // A free port can be taken between finding it and FerretDB binding it: try another one.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startFerretDb(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`could not start FerretDB (set TEST_MONGODB_URI to use a running server): ${String(lastError)}`, { cause: lastError });
}

async function startFerretDb(options: FerretDbOptions): Promise<MongoServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ingestion-ferretdb-'));
  const port = await freePort();
  const args = [
    '--handler=sqlite',
    `--sqlite-url=file:${dir}/`,
    `--state-dir=${dir}`,
    `--listen-addr=127.0.0.1:${port}`,
    // No debug/metrics HTTP listener (its default port would collide between parallel test files), no telemetry.
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=ERROR',
    ...(options.replSetName ? [`--repl-set-name=${options.replSetName}`] : []),
  ];
  const child = spawn(FERRETDB_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString().trim());
    if (log.length > 20) log.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const stop = async () => {
    await stopProcess(child, exited);
    await rm(dir, { recursive: true, force: true });
  };
  const uri = `mongodb://127.0.0.1:${port}/ingestion`;
  try {
    await waitForPing(uri, child);
  } catch (error) {
    await stop();
    throw new Error(`${error instanceof Error ? error.message : 'ferretdb failed'}; last server output: ${log.join(' | ')}`, { cause: error });
  }
  return { uri, stop };
}

async function waitForPing(uri: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ferretdb exited (${child.exitCode ?? child.signalCode})`);
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 250, connectTimeoutMS: 250 });
    try {
      await client.db().command({ ping: 1 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`ferretdb did not answer a ping within ${START_TIMEOUT_MS} ms`, { cause: error });
    } finally {
      await client.close().catch(() => undefined);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killed = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killed);
}


export const mongodbBackend: StoreBackend = {
  name: 'mongodb',
  async start(): Promise<BackendHarness> {
    const server = await startMongoServer();
    return {
      createStore: (options) => new MongoDbStore({ ...options, uri: server.uri }),
      serviceEnv: (tableName) => ({ STORAGE_TYPE: 'mongodb', MONGODB_URI: server.uri, TABLE_NAME: tableName }),
      stop: () => server.stop(),
    };
  },
};
