import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { IngestionStatus, Run } from '../../src/stores/store.js';
import { selectedBackends, uniqueTableName } from '../support/backends.js';
import { makePosts, startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { postgresUri, startPostgresServer, type PostgresServer } from '../support/postgres-backend.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

type Runs = { runs: Run[] };

/** The built service on PostgreSQL reached through a TCP proxy, so the tests can take the database away. */
if (selectedBackends().some((b) => b.name === 'postgresql')) {
  describe('store faults (the service on PostgreSQL behind a TCP proxy)', () => {
    let server: PostgresServer;
    let proxy: TcpProxy;
    let upstream: FakeUpstream;
    let svc: ServiceProcess | undefined;

    before(async () => {
      server = await startPostgresServer();
      proxy = await startTcpProxy(server.connection.host, server.connection.port);
      upstream = await startFakeUpstream(makePosts(40));
    });
    after(async () => {
      await svc?.stop('SIGKILL');
      await proxy?.close();
      await upstream?.close();
      await server?.stop();
    });

    /** The service (replacing the last one) on its own table of the test server, through the proxy unless told. */
    async function startOnPostgres(tableName: string, env: Record<string, string>, via: 'proxy' | 'direct' = 'proxy'): Promise<ServiceProcess> {
      await svc?.stop('SIGKILL');
      const address = via === 'proxy' ? { host: '127.0.0.1', port: proxy.port } : {};
      svc = await startService({ STORAGE_TYPE: 'postgresql', POSTGRES_URI: postgresUri(server.connection, address), TABLE_NAME: tableName, API_ENDPOINT: upstream.url, ...env });
      return svc;
    }

    /** The environment of a service process started by hand, on PostgreSQL through the proxy (cut, in these tests). */
    function throughProxy(env: Record<string, string>, password?: string): NodeJS.ProcessEnv {
      const uri = postgresUri(server.connection, { host: '127.0.0.1', port: proxy.port, ...(password === undefined ? {} : { password }) });
      return { PATH: process.env.PATH, STORAGE_TYPE: 'postgresql', POSTGRES_URI: uri, ...env };
    }

    it('when the database goes away between runs, then runs fail, the process lives and /ready says so; when it is back, the next run succeeds without a restart', async () => {
      svc = await startOnPostgres(uniqueTableName('outage'), { INGESTION_INTERVAL: '500ms' });
      const before = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      assert.equal((await svc.get('/ready')).status, 200);

      await proxy.cut();
      assert.equal((await svc.get('/ready')).status, 503);
      assert.equal((await svc.get('/posts')).status, 503);
      // Long enough for several scheduled runs to find the database gone.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(svc.child.exitCode, null, 'the process lives');

      await proxy.restore();
      await svc.waitFor('/ready', () => true, 20_000);
      const after = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success' && s.last_successful_run !== before.last_successful_run, 20_000);
      assert.equal(after.records_ingested, 40);
      const { runs } = (await svc.get<Runs>('/runs?limit=100')).body;
      assert.equal(runs.filter((run) => run.status === 'running').length <= 1, true);
      assert.equal((await svc.get<{ count: number }>('/posts?limit=100')).body.count, 40);
    });

    it('when the database goes away during a run, then the run fails and its cause is recorded once the database is back', async () => {
      // The run's request stalls after the first record, so the database can be taken away while it waits.
      upstream.enqueue({ kind: 'stall-body' });
      const seen = upstream.requests.length;
      svc = await startOnPostgres(uniqueTableName('midrun'), { API_TIMEOUT: '2s', RETRY_COUNT: '0', INGESTION_INTERVAL: '1h' });
      const deadline = Date.now() + 20_000;
      while (upstream.requests.length === seen && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await proxy.cut();
      // The upstream goes silent past API_TIMEOUT, the run fails, and recording that fails too.
      await svc.waitForLogs((line) => line.msg === 'could not record the failed run; asking the store again until it answers', 1, 20_000);
      await proxy.restore();

      const status = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'failed', 60_000);
      assert.doesNotMatch(status.last_error ?? '', /interrupted/);
      assert.match(status.last_error ?? '', /upstream/);
      const { runs } = (await svc.get<Runs>('/runs')).body;
      assert.deepEqual(runs.map((run) => [run.status, run.error]), [['failed', status.last_error]]);
    });

    it('when the database freezes, then /ready answers 503 within seconds rather than hanging, and 200 again once it thaws', async () => {
      const service = await startOnPostgres(uniqueTableName('frozen'), { INGESTION_INTERVAL: '1h' });
      await service.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      proxy.freeze();
      try {
        const asked = Date.now();
        const answers = await Promise.all(Array.from({ length: 5 }, () => service.get<{ code: string; message: string }>('/ready')));
        assert.ok(Date.now() - asked < 10_000, 'answered, not hung');
        for (const { status, body } of answers) {
          assert.equal(status, 503);
          assert.equal(body.code, 'STORE_UNAVAILABLE');
          assert.match(body.message, /no answer within 2 s/);
        }
      } finally {
        proxy.thaw();
      }
      await service.waitFor('/ready', () => true, 20_000);
      assert.equal((await service.get('/ready')).status, 200);
      assert.equal((await service.get<{ count: number }>('/posts?limit=100')).body.count, 40);
    });

    it('when SIGTERM comes while a run waits for a lock another session holds, then the run is recorded as interrupted and the process exits 0 within SHUTDOWN_TIMEOUT', async () => {
      const tableName = uniqueTableName('locked');
      svc = await startOnPostgres(tableName, { INGESTION_INTERVAL: '1s', SHUTDOWN_TIMEOUT: '4s' }, 'direct');
      const first = await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'success');
      const locker = new pg.Client({ connectionString: postgresUri(server.connection) });
      await locker.connect();
      try {
        // The next run reads the stored copies of its first batch from the table, and waits for the lock.
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${tableName}" IN ACCESS EXCLUSIVE MODE`);
        await svc.waitFor<IngestionStatus>('/status', (s) => s.status === 'running' && s.last_attempt !== first.last_attempt);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(await svc.stop('SIGTERM'), 0, 'exits 0, not by the forced exit at SHUTDOWN_TIMEOUT');
      } finally {
        await locker.end();
      }
      const reader = new pg.Client({ connectionString: postgresUri(server.connection) });
      await reader.connect();
      try {
        const { rows } = await reader.query<{ status: string; error: string }>(`SELECT status, error FROM "${tableName}_runs" ORDER BY started_at DESC LIMIT 1`);
        assert.deepEqual(rows, [{ status: 'failed', error: 'interrupted by shutdown' }]);
      } finally {
        await reader.end();
      }
    });

    it('when SIGTERM comes while start-up still waits for the database, then the process exits 0 at once, saying so', async () => {
      await proxy.cut();
      try {
        const { spawn } = await import('node:child_process');
        // Retries for minutes: without the early handler, only the signal's default action would end it.
        const child = spawn(process.execPath, ['dist/main.js'], { env: throughProxy({ RETRY_COUNT: '100', RETRY_BASE_DELAY: '1s', SERVER_PORT: '0' }) });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const signalled = Date.now();
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
        assert.ok(Date.now() - signalled < 5_000, 'at once, not after the retries');
        assert.match(output, /"msg":"stopped before start-up finished"/);
      } finally {
        await proxy.restore();
      }
    });

    it('when the database is unreachable at start, then the service exits non-zero with one line naming it and no password', async () => {
      await proxy.cut();
      try {
        const { spawnSync } = await import('node:child_process');
        const result = spawnSync(process.execPath, ['dist/main.js'], {
          env: throughProxy({ RETRY_COUNT: '1', RETRY_BASE_DELAY: '10ms' }, 'hunter2-secret'),
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.notEqual(result.status, 0);
        const lines = result.stderr.trim().split('\n').filter((line) => !line.includes('NodeVersionSupportWarning'));
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0] ?? '', /cannot start: .*PostgreSQL at 127\.0\.0\.1:\d+/);
        assert.doesNotMatch(result.stderr + result.stdout, /hunter2-secret/);
      } finally {
        await proxy.restore();
      }
    });
  });
}
