import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import pg from 'pg';
import { StoreSetupError, StoreUnavailableError } from '../../src/errors.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import type { PostgresStoreConfig } from '../../src/stores/postgres/postgres-store-config.js';
import type { Post, Store } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName } from '../support/backends.js';
import { at, ingestRun, rejection, samplePost, visibleText } from '../support/store-fixtures.js';
import { freePort, postgresUri, startPostgresServer, TEST_CONNECT_RETRY, type PostgresServer } from '../support/postgres-backend.js';
import { SELF_SIGNED_CERTIFICATE, SELF_SIGNED_KEY } from '../support/self-signed-certificate.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const SOURCE = 'pg-specific';
const wanted = selectedBackends().some((backend) => backend.name === 'postgresql');

const post = (id: number, overrides: Partial<Post> = {}): Post => samplePost(id, SOURCE, overrides);
const ingest = (store: Store, runId: string, startedAt: string, posts: readonly Post[]) => ingestRun(store, runId, startedAt, posts);

function isUnavailable(error: unknown): boolean {
  return (error instanceof StoreUnavailableError || error instanceof StoreSetupError) && error.code === 'STORE_UNAVAILABLE' && !error.message.includes('\n');
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('PostgreSQL store', { skip: wanted ? false : 'TEST_STORES does not name postgresql' }, () => {
  let server: PostgresServer;
  const stores: Store[] = [];
  const proxies: TcpProxy[] = [];
  const clients: pg.Client[] = [];

  before(async () => {
    server = await startPostgresServer();
  });
  after(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await Promise.allSettled(clients.map((c) => c.end()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    await server?.stop();
  });

  function newStore(overrides: Partial<PostgresStoreConfig> = {}): PostgresStore {
    const store = new PostgresStore({
      tableName: uniqueTableName('pg'),
      source: SOURCE,
      batchSize: 100,
      runHistoryLimit: 100,
      uri: server.uri,
      poolSize: 4,
      connectRetry: TEST_CONNECT_RETRY,
      ...overrides,
    });
    stores.push(store);
    return store;
  }

  /** A store that reaches PostgreSQL through a proxy the test can cut. */
  async function proxiedStore(tableName = uniqueTableName('pg')): Promise<{ store: PostgresStore; proxy: TcpProxy }> {
    const proxy = await startTcpProxy(server.connection.host, server.connection.port);
    proxies.push(proxy);
    const store = newStore({ tableName, uri: postgresUri(server.connection, { host: '127.0.0.1', port: proxy.port }) });
    await store.init();
    return { store, proxy };
  }

  /** A direct connection, around any proxy, for setting up locks and looking at the tables. */
  async function directClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: server.uri });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  }

  it('when PostgreSQL becomes unreachable, then reads and a run fail with STORE_UNAVAILABLE, and the same store recovers when it is back', async () => {
    const { store, proxy } = await proxiedStore();
    await ingest(store, 'r1', at(1), [post(1), post(2)]);
    const writer = await store.beginRun({ runId: 'r2', startedAt: at(2) });
    await writer.write([post(3, { ingested_at: at(2) })]);

    await proxy.cut();
    const reads = [store.ping(), store.listPosts({ limit: 10, offset: 0 }), store.getPost(1), store.getStatus(), store.listRuns(5)];
    for (const error of await Promise.all(reads.map(rejection))) assert.ok(isUnavailable(error));
    assert.ok(isUnavailable(await rejection(writer.commit({ finishedAt: () => at(3), recordsIngested: 1, recordsRejected: 0 }))));
    // Recording the failure needs the database too; the run row stays `running` until recoverInterruptedRuns.
    assert.ok(isUnavailable(await rejection(writer.abort({ finishedAt: at(3), error: 'store unavailable', recordsRejected: 0 }))));
    assert.ok(isUnavailable(await rejection(store.beginRun({ runId: 'r2b', startedAt: at(3) }))));

    await proxy.restore();
    assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((p) => p.id), [1, 2]);
    await ingest(store, 'r3', at(4), [post(1, { title: 'after the outage' }), post(4)]);
    assert.deepEqual((await store.listPosts({ limit: 10, offset: 0 })).map((p) => p.id), [1, 2, 4]);
    assert.equal((await store.getPost(1))?.title, 'after the outage');
    const status = await store.getStatus();
    assert.equal(status.status, 'success');
    assert.equal(status.last_successful_run, at(4));
  });

  it('when another session holds a lock on the tables, then reads and the lease fail as STORE_UNAVAILABLE after lock_timeout, not when the lock goes', async () => {
    const tableName = uniqueTableName('pg');
    const store = newStore({ tableName, lockTimeoutMs: 300 });
    await store.init();
    await ingest(store, 'r1', at(1), [post(1), post(2)]);
    const locker = await directClient();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${tableName}", "${tableName}_lease" IN ACCESS EXCLUSIVE MODE`);
    try {
      for (const error of await Promise.all([store.getPost(1), store.listPosts({ limit: 10, offset: 0 })].map(rejection))) assert.ok(isUnavailable(error));
      const lease = { owner: 'pod-a', now: at(2), expiresAt: at(3) };
      assert.ok(isUnavailable(await rejection(store.acquireLease(lease))));
    } finally {
      await locker.query('ROLLBACK');
    }
    assert.equal((await store.getPost(1))?.id, 1);
  });

  it('when PostgreSQL is unreachable at start, then init retries and fails with one line naming the server', async () => {
    const port = await freePort();
    const store = newStore({
      uri: postgresUri(server.connection, { host: '127.0.0.1', port }),
      connectRetry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 },
      connectTimeoutMs: 2000,
    });
    const error = await rejection(store.init());
    assert.ok(isUnavailable(error));
    const { message } = error as StoreUnavailableError;
    assert.match(message, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port}/ingestion: connection refused, gave up after 3 attempts`));
    assert.ok(isUnavailable(await rejection(store.ping())), 'a store that failed to start is not usable');
  });

  it('when sslmode asks for TLS and the server\'s certificate is not trusted, or it has no TLS, then init fails at once naming POSTGRES_URI and why', async () => {
    // A server that answers PostgreSQL's SSLRequest ('S' then a TLS handshake with a self-signed certificate, or 'N').
    const offers = (tls: boolean) =>
      createNetServer((socket) => {
        socket.once('data', () => {
          socket.write(tls ? 'S' : 'N');
          if (tls) new TLSSocket(socket, { isServer: true, secureContext: createSecureContext({ cert: SELF_SIGNED_CERTIFICATE, key: SELF_SIGNED_KEY }) }).on('error', () => undefined);
          else socket.end();
        });
      });
    for (const [tls, reason] of [[true, /its TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/], [false, /it does not offer TLS, which sslmode asks for/]] as const) {
      const server = offers(tls);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const store = newStore({ uri: `postgresql://u:p@127.0.0.1:${port}/db?sslmode=require`, connectRetry: { retries: 3, baseDelayMs: 10, maxDelayMs: 20 } });
        const error = await rejection(store.init());
        assert.ok(error instanceof StoreSetupError, String(error));
        assert.match(error.message, /^POSTGRES_URI cannot be used: PostgreSQL at 127\.0\.0\.1:\d+\/db: /);
        assert.match(error.message, reason);
        assert.match(error.message, /gave up after 1 attempt$/);
      } finally {
        server.close();
      }
    }
    const missingFile = `/nonexistent-${Date.now()}/ca.pem`;
    const unreadable = await rejection(newStore({ uri: `${server.uri}${server.uri.includes('?') ? '&' : '?'}sslmode=verify-full&sslrootcert=${missingFile}` }).init());
    assert.ok(unreadable instanceof StoreSetupError, String(unreadable));
    assert.match(unreadable.message, /a file the URI names \(sslrootcert, sslcert or sslkey\) cannot be read \(ENOENT\), gave up after 1 attempt$/);
    assert.ok(!unreadable.message.includes(missingFile));
  });

  it('when the URI holds a password, then no thrown error shows it: wrong password, unreachable server, outage', async () => {
    const wrong = `wrong-${Date.now().toString(36)}-secret`;
    const { password } = server.connection;
    const errors: unknown[] = [];

    const badLogin = newStore({ uri: postgresUri(server.connection, { password: wrong }) });
    const loginError = await rejection(badLogin.init());
    assert.ok(loginError instanceof StoreSetupError && isUnavailable(loginError));
    // Authentication failures are not retried: the next attempt would be refused the same way.
    assert.equal((loginError as Error).message, `POSTGRES_URI cannot be used: PostgreSQL at ${server.connection.host}:${server.connection.port}/${server.connection.database}: authentication failed, gave up after 1 attempt`);
    errors.push(loginError);

    const unreachable = newStore({ uri: postgresUri(server.connection, { port: await freePort() }), connectRetry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 } });
    errors.push(await rejection(unreachable.init()));

    const { store, proxy } = await proxiedStore();
    await proxy.cut();
    errors.push(await rejection(store.listPosts({ limit: 1, offset: 0 })), await rejection(store.beginRun({ runId: 'r1', startedAt: at(1) })));
    await proxy.restore();

    for (const error of errors) {
      assert.ok(isUnavailable(error));
      const text = visibleText(error);
      assert.ok(!text.includes(password), `the password leaked: ${(error as Error).message}`);
      assert.ok(!text.includes(wrong), `the wrong password leaked: ${(error as Error).message}`);
    }
  });

  it('when the service\'s role loses its privileges while it runs, then reads and a run fail saying so, not to try again shortly', async () => {
    const admin = await directClient();
    const role = `svc_${Date.now().toString(36)}`;
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    await admin.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
    const store = newStore({ uri: postgresUri(server.connection, { user: role, password: 'pw' }) });
    await store.init();
    await store.listPosts({ limit: 1, offset: 0 });

    await admin.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    for (const error of [await rejection(store.listPosts({ limit: 1, offset: 0 })), await rejection(store.beginRun({ runId: 'r1', startedAt: at(1) }))]) {
      assert.ok(isUnavailable(error));
      assert.match((error as Error).message, /^the store refused \([a-z ]+\): permission denied; it will refuse again until an operator fixes that$/);
    }
  });

  it('when TABLE_NAME names tables that lack what the service needs, or a newer version migrated them, then init refuses at once naming TABLE_NAME', async () => {
    const admin = await directClient();
    const foreignName = uniqueTableName('pg');
    await admin.query(`CREATE TABLE "${foreignName}" (id integer PRIMARY KEY, name text)`);
    const foreign = await rejection(newStore({ tableName: foreignName }).init());
    assert.ok(foreign instanceof StoreSetupError, String(foreign));
    assert.match(foreign.message, new RegExp(`^TABLE_NAME cannot be used: table "${foreignName}" lacks the columns user_id, title, body, ingested_at, source this service needs`));

    const keyless = uniqueTableName('pg');
    await newStore({ tableName: keyless }).init();
    await admin.query(`ALTER TABLE "${keyless}" DROP CONSTRAINT "${keyless}_pkey"`);
    const unkeyed = await rejection(newStore({ tableName: keyless }).init());
    assert.ok(unkeyed instanceof StoreSetupError, String(unkeyed));
    assert.match(unkeyed.message, /has no primary key on id/);

    const dropped = uniqueTableName('pg');
    await newStore({ tableName: dropped }).init();
    await admin.query(`DROP TABLE "${dropped}"`);
    const missing = await rejection(newStore({ tableName: dropped }).init());
    assert.ok(missing instanceof StoreSetupError, String(missing));
    assert.match(missing.message, new RegExp(`table "${dropped}" does not exist, yet its migrations are recorded`));

    const migrated = uniqueTableName('pg');
    await newStore({ tableName: migrated }).init();
    await admin.query(`INSERT INTO "${migrated}_migrations" (version, applied_at) VALUES (99, 'x')`);
    const newer = await rejection(newStore({ tableName: migrated }).init());
    assert.ok(newer instanceof StoreSetupError, String(newer));
    assert.match(newer.message, /^TABLE_NAME cannot be used: its tables are at schema 99, newer than this version knows \(2\)/);
  });

  it('when several replicas init one fresh table at once, then all succeed and each migration runs once', async () => {
    const tableName = uniqueTableName('pg');
    const replicas = Array.from({ length: 4 }, () => newStore({ tableName }));
    await Promise.all(replicas.map((store) => store.init()));
    const admin = await directClient();
    const { rows } = await admin.query<{ version: number }>(`SELECT version FROM "${tableName}_migrations" ORDER BY version`);
    assert.deepEqual(rows.map((r) => r.version), [1, 2]);
    await ingest(replicas[0] as Store, 'r1', at(1), [post(1)]);
    assert.equal((await (replicas[3] as Store).getPost(1))?.id, 1);
  });

  it('when the connection is cut while a commit is in flight, then records and status stay as before the run', async () => {
    const tableName = uniqueTableName('pg');
    const { store, proxy } = await proxiedStore(tableName);
    await ingest(store, 'r1', at(1), [post(1), post(2)]);
    const recordsBefore = await store.listPosts({ limit: 10, offset: 0 });
    const writer = await store.beginRun({ runId: 'r2', startedAt: at(5) });
    const statusBefore = await store.getStatus();
    await writer.write([post(1, { title: 'changed', ingested_at: at(5) }), post(3, { ingested_at: at(5) })]);

    // Hold the status row, so the commit merges the records and then waits inside its transaction.
    const blocker = await directClient();
    const observer = await directClient();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM "${tableName}_status" WHERE source = $1 FOR UPDATE`, [SOURCE]);
    const commit = rejection(writer.commit({ finishedAt: () => at(6), recordsIngested: 2, recordsRejected: 0 }));
    await waitFor(async () => {
      const { rows } = await observer.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
        [`%${tableName}_status%`],
      );
      return rows[0]?.n === 1;
    }, 'the commit to wait on the status row');

    await proxy.cut();
    assert.ok(isUnavailable(await commit));
    await blocker.query('ROLLBACK');
    await proxy.restore();

    assert.deepEqual(await store.listPosts({ limit: 10, offset: 0 }), recordsBefore);
    assert.deepEqual(await store.getStatus(), statusBefore);
    // The run then fails cleanly, and the last good run stays the last good run.
    await writer.abort({ finishedAt: at(7), error: 'the store is unavailable (commit run)', recordsRejected: 0 });
    const status = await store.getStatus();
    assert.equal(status.status, 'failed');
    assert.equal(status.last_successful_run, at(1));
    assert.equal(status.records_ingested, 2);
    assert.deepEqual((await store.listRuns(5)).map((r) => [r.run_id, r.status]), [['r2', 'failed'], ['r1', 'success']]);
    assert.deepEqual(await store.listPosts({ limit: 10, offset: 0 }), recordsBefore);
  });
});
