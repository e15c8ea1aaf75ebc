import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS, loadConfig, type Config } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { parseDuration } from '../../src/duration.js';

/** Runs loadConfig and returns the ConfigError it throws, failing the test when it does not throw one. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected loadConfig(${JSON.stringify(env)}) to throw a ConfigError`);
}

describe('loadConfig defaults', () => {
  it('when the environment is empty, then every setting takes its documented default', () => {
    const config = loadConfig({});
    assert.equal(config.storageType, 'sqlite');
    assert.equal(config.awsRegion, SETTINGS.awsRegion.default);
    assert.equal(config.tableName, SETTINGS.tableName.default);
    assert.equal(config.dynamodbEndpoint, '');
    assert.equal(config.dynamodbCreateTables, true);
    assert.equal(config.mongodbUri, '');
    assert.equal(config.postgresUri, '');
    assert.equal(config.postgresPoolSize, Number(SETTINGS.postgresPoolSize.default));
    assert.equal(config.sqlitePath, SETTINGS.sqlitePath.default);
    assert.equal(config.apiEndpoint, SETTINGS.apiEndpoint.default);
    assert.equal(config.sourceName, SETTINGS.sourceName.default);
    assert.equal(config.ingestionIntervalMs, parseDuration(SETTINGS.ingestionIntervalMs.default));
    assert.equal(config.ingestionIntervalMs, 300_000);
    assert.equal(config.apiTimeoutMs, parseDuration(SETTINGS.apiTimeoutMs.default));
    assert.equal(config.maxResponseBytes, 512 * 1024 ** 2);
    assert.equal(config.batchSize, Number(SETTINGS.batchSize.default));
    assert.equal(config.serverPort, 8080);
    assert.equal(config.logLevel, SETTINGS.logLevel.default);
    assert.equal(config.logFormat, SETTINGS.logFormat.default);
    assert.equal(config.shutdownTimeoutMs, parseDuration(SETTINGS.shutdownTimeoutMs.default));
    assert.deepEqual(config.retry, { retries: 3, baseDelayMs: 500, maxDelayMs: 30_000 });
  });

  it('when every setting is given its default text explicitly, then the result equals the empty environment', () => {
    const env = Object.fromEntries(Object.values(SETTINGS).map((setting) => [setting.env, setting.default]));
    assert.deepEqual(loadConfig(env), loadConfig({}));
  });

  it('when a variable is blank, then its default applies', () => {
    assert.equal(loadConfig({ SERVER_PORT: '   ' }).serverPort, 8080);
  });

  it('when the config is returned, then it and its retry policy are frozen', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.retry));
    assert.throws(() => {
      (config as { serverPort: number }).serverPort = 1;
    }, TypeError);
    assert.throws(() => {
      (config.retry as { retries: number }).retries = 99;
    }, TypeError);
  });

  it('when valid values are given, then they are parsed into typed values', () => {
    const config: Config = loadConfig({
      STORAGE_TYPE: 'postgresql',
      POSTGRES_URI: 'postgres://u:p@localhost:5432/db',
      INGESTION_INTERVAL: '1h30m',
      RETRY_COUNT: '0',
      RETRY_BASE_DELAY: '1s',
      RETRY_MAX_DELAY: '1m',
      SERVER_PORT: '0',
      DYNAMODB_CREATE_TABLES: 'FALSE',
    });
    assert.equal(config.storageType, 'postgresql');
    assert.equal(config.ingestionIntervalMs, 5_400_000);
    assert.deepEqual(config.retry, { retries: 0, baseDelayMs: 1000, maxDelayMs: 60_000 });
    assert.equal(config.serverPort, 0);
    assert.equal(config.dynamodbCreateTables, false);
  });
});

describe('loadConfig MAX_RESPONSE_BYTES', () => {
  const sizes: ReadonlyArray<readonly [string, number]> = [
    ['64MiB', 64 * 1024 ** 2],
    ['1GB', 1e9],
    ['2048', 2048],
    ['1024', 1024],
    ['10 KiB', 10 * 1024],
  ];
  for (const [text, bytes] of sizes) {
    it(`when MAX_RESPONSE_BYTES=${text}, then the limit is ${bytes} bytes`, () => {
      assert.equal(loadConfig({ MAX_RESPONSE_BYTES: text }).maxResponseBytes, bytes);
    });
  }

  // Too small a size is told the bound; a form it cannot read, the form (not a bound it may be above).
  const refusals: ReadonlyArray<readonly [string, RegExp]> = [
    ['1023', /expected a size of at least 1024 bytes/],
    ['1KB', /expected a size of at least 1024 bytes/],
    ['lots', /expected a whole number of bytes, or one with a unit/],
    ['-5MiB', /expected a whole number of bytes, or one with a unit/],
    ['1.5GB', /expected a whole number of bytes, or one with a unit/],
    ['64mib', /expected a whole number of bytes, or one with a unit \(case as written/],
  ];
  for (const [text, takes] of refusals) {
    it(`when MAX_RESPONSE_BYTES=${text}, then a ConfigError names the variable and what it takes`, () => {
      const error = configError({ MAX_RESPONSE_BYTES: text });
      assert.match(error.message, /MAX_RESPONSE_BYTES/);
      assert.ok(error.message.includes(JSON.stringify(text)));
      assert.match(error.message, takes);
    });
  }
});

describe('loadConfig rejections', () => {
  const cases: ReadonlyArray<{ env: NodeJS.ProcessEnv; variable: string; got: string; takes: RegExp }> = [
    { env: { INGESTION_INTERVAL: 'banana' }, variable: 'INGESTION_INTERVAL', got: '"banana"', takes: /duration in Go syntax/ },
    { env: { INGESTION_INTERVAL: '50ms' }, variable: 'INGESTION_INTERVAL', got: '"50ms"', takes: /at least 100ms/ },
    { env: { INGESTION_INTERVAL: '720h' }, variable: 'INGESTION_INTERVAL', got: '"720h"', takes: /at most 596h/ },
    { env: { SHUTDOWN_TIMEOUT: '99999999999h' }, variable: 'SHUTDOWN_TIMEOUT', got: '"99999999999h"', takes: /at most 596h/ },
    { env: { API_TIMEOUT: '300ms' }, variable: 'API_TIMEOUT', got: '"300ms"', takes: /at least 1000ms/ },
    { env: { TABLE_NAME: 'sqlite_data' }, variable: 'TABLE_NAME', got: '"sqlite_data"', takes: /SQLite reserves names starting with sqlite_/ },
    { env: { RETRY_COUNT: '-2' }, variable: 'RETRY_COUNT', got: '"-2"', takes: /an integer from 0 to 100/ },
    { env: { RETRY_COUNT: '1.5' }, variable: 'RETRY_COUNT', got: '"1.5"', takes: /an integer from 0 to 100/ },
    { env: { SERVER_PORT: '99999' }, variable: 'SERVER_PORT', got: '"99999"', takes: /an integer from 0 to 65535/ },
    { env: { STORAGE_TYPE: 'oracle' }, variable: 'STORAGE_TYPE', got: '"oracle"', takes: /one of sqlite, postgresql, mongodb, dynamodb/ },
    { env: { LOG_LEVEL: 'loud' }, variable: 'LOG_LEVEL', got: '"loud"', takes: /one of fatal, error/ },
    { env: { DYNAMODB_CREATE_TABLES: 'yes' }, variable: 'DYNAMODB_CREATE_TABLES', got: '"yes"', takes: /true or false/ },
    { env: { API_ENDPOINT: 'ftp://example.com' }, variable: 'API_ENDPOINT', got: '"ftp://example.com"', takes: /a URL starting with http:\/\/ or https:\/\// },
    { env: { API_ENDPOINT: 'ftp://user:s3cret@example.com' }, variable: 'API_ENDPOINT', got: '"ftp://(credentials hidden)@example.com"', takes: /a URL starting with http:\/\/ or https:\/\// },
    { env: { API_ENDPOINT: 'ftp://h/posts?token=TOPSECRET1&page=2' }, variable: 'API_ENDPOINT', got: '"ftp://h/posts?token=[redacted]&page=2"', takes: /a URL starting with http:\/\/ or https:\/\// },
    { env: { TABLE_NAME: 'x' }, variable: 'TABLE_NAME', got: '"x"', takes: /3 to 48 letters/ },
    { env: { API_ENDPOINT: 'http://admin:hunter2/x@h/x' }, variable: 'API_ENDPOINT', got: '"http://(credentials hidden)@h/x"', takes: /that parses: a port up to 65535/ },
    { env: { API_ENDPOINT: 'http://u:p#ss@h/x' }, variable: 'API_ENDPOINT', got: '"http://(credentials hidden)@h/x"', takes: /percent-encoded/ },
    { env: { API_KEYS: ',,' }, variable: 'API_KEYS', got: '(value hidden)', takes: /comma-separated keys/ },
    { env: { SQLITE_PATH: ':memory:' }, variable: 'SQLITE_PATH', got: '":memory:"', takes: /a file path, not :memory:/ },
    { env: { SQLITE_PATH: 'file:/tmp/x.db?mode=ro' }, variable: 'SQLITE_PATH', got: '"file:/tmp/x.db?mode=ro"', takes: /not :memory: or a file: URI/ },
    { env: { AWS_REGION: '-1' }, variable: 'AWS_REGION', got: '"-1"', takes: /an AWS region/ },
    { env: { AWS_REGION: 'us-west-2-' }, variable: 'AWS_REGION', got: '"us-west-2-"', takes: /an AWS region/ },
    { env: { MAX_RESPONSE_BYTES: '9'.repeat(400) }, variable: 'MAX_RESPONSE_BYTES', got: `"${'9'.repeat(400)}"`, takes: /a size of at most 9007199254740991 bytes/ },
    { env: { CORS_ORIGINS: 'http://*.example.com' }, variable: 'CORS_ORIGINS', got: '"http://*.example.com"', takes: /comma-separated origins/ },
  ];
  for (const { env, variable, got, takes } of cases) {
    const [name, value] = Object.entries(env)[0] as [string, string];
    it(`when ${name}=${value}, then a ConfigError names ${variable}, the value it got and what it takes`, () => {
      const error = configError(env);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.equal(error.problems.length, 1);
      assert.ok(error.message.includes(`${variable}=${got}`), error.message);
      assert.match(error.message, takes);
      assert.ok(!error.message.includes('\n'), 'the message fits on one line');
    });
  }

  it('when STORAGE_TYPE=dynamodb, then MAX_RECORD_BYTES defaults to 399KiB, a smaller one is kept, and a larger one asked for is refused', () => {
    assert.equal(loadConfig({ STORAGE_TYPE: 'dynamodb' }).maxRecordBytes, 399 * 1024);
    assert.equal(loadConfig({ STORAGE_TYPE: 'dynamodb', MAX_RECORD_BYTES: '100KiB' }).maxRecordBytes, 100 * 1024);
    assert.equal(loadConfig({ MAX_RECORD_BYTES: '2MiB' }).maxRecordBytes, 2 * 1024 * 1024, 'other stores keep what is asked');
    const error = configError({ STORAGE_TYPE: 'dynamodb', MAX_RECORD_BYTES: '1MiB' });
    assert.equal(error.problems.length, 1);
    assert.match(error.message, /MAX_RECORD_BYTES="1MiB" is not valid: expected at most 399KiB on DynamoDB/);
  });

  it('when TRUST_PROXY is false, true or the proxies\' addresses and ranges, then it is kept; anything else is refused', () => {
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: 'TRUE' }).trustProxy, true);
    assert.equal(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, fd00::/8 ,192.168.1.5,loopback' }).trustProxy, '10.0.0.0/8,fd00::/8,192.168.1.5,loopback');
    for (const value of ['1', 'yes', '10.0.0.0/33', '300.1.1.1', '10.0.0.0/8/1', 'proxy.internal', '0.0.0.0/0', '::/0']) {
      assert.match(configError({ TRUST_PROXY: value }).message, /TRUST_PROXY=.* is not valid: expected false, the proxies' addresses or CIDR ranges/, value);
    }
  });

  it('when STORAGE_TYPE=mongodb, then MAX_RECORD_BYTES up to 16383KiB is kept, and a larger one asked for is refused', () => {
    const env = { STORAGE_TYPE: 'mongodb', MONGODB_URI: 'mongodb://h:27017/db' };
    assert.equal(loadConfig(env).maxRecordBytes, 1024 * 1024);
    assert.equal(loadConfig({ ...env, MAX_RECORD_BYTES: '16383KiB' }).maxRecordBytes, 16383 * 1024);
    assert.match(configError({ ...env, MAX_RECORD_BYTES: '16MiB' }).message, /MAX_RECORD_BYTES="16MiB" is not valid: expected at most 16383KiB on MongoDB/);
  });

  it('when STORAGE_TYPE=postgresql without POSTGRES_URI, then the error names POSTGRES_URI and the storage type', () => {
    const error = configError({ STORAGE_TYPE: 'postgresql' });
    assert.equal(error.problems.length, 1);
    assert.match(error.message, /POSTGRES_URI is empty/);
    assert.match(error.message, /STORAGE_TYPE=postgresql/);
    assert.match(error.message, /postgres:\/\//);
  });

  it('when MONGODB_URI lists a replica set\'s hosts, then it is taken, and its database is read from the path', () => {
    const uri = 'mongodb://app:p%40ss@db-0:27017,db-1:27017,db-2:27017/ingestion?replicaSet=rs0&authSource=admin';
    assert.equal(loadConfig({ STORAGE_TYPE: 'mongodb', MONGODB_URI: uri }).mongodbUri, uri);
    assert.equal(loadConfig({ STORAGE_TYPE: 'mongodb', MONGODB_URI: 'mongodb+srv://cluster0.example.net/ingestion' }).storageType, 'mongodb');
    for (const withoutDatabase of ['mongodb://db-0:27017,db-1:27017', 'mongodb://db-0:27017,db-1:27017/?replicaSet=rs0']) {
      assert.match(configError({ STORAGE_TYPE: 'mongodb', MONGODB_URI: withoutDatabase }).message, /expected a database name in its path/);
    }
    assert.match(configError({ MONGODB_URI: 'mongodb://' }).message, /MONGODB_URI=\(value hidden\) is not valid: expected a connection string/);
  });

  it('when STORAGE_TYPE=mongodb without MONGODB_URI, then the error names MONGODB_URI and the storage type', () => {
    const error = configError({ STORAGE_TYPE: 'mongodb' });
    assert.equal(error.problems.length, 1);
    assert.match(error.message, /MONGODB_URI is empty/);
    assert.match(error.message, /STORAGE_TYPE=mongodb/);
    assert.match(error.message, /mongodb:\/\//);
  });

  it('when STORAGE_TYPE=mongodb has a MONGODB_URI, then the config loads', () => {
    assert.equal(loadConfig({ STORAGE_TYPE: 'mongodb', MONGODB_URI: 'mongodb://localhost:27017/app' }).mongodbUri, 'mongodb://localhost:27017/app');
  });

  it('when several variables are wrong, then every problem is reported together', () => {
    const error = configError({ INGESTION_INTERVAL: 'banana', RETRY_COUNT: '-2', SERVER_PORT: '99999', STORAGE_TYPE: 'oracle' });
    assert.equal(error.problems.length, 4);
    for (const variable of ['INGESTION_INTERVAL', 'RETRY_COUNT', 'SERVER_PORT', 'STORAGE_TYPE']) {
      assert.ok(error.message.includes(`${variable}=`), `${variable} is named in: ${error.message}`);
    }
    assert.ok(!error.message.includes('\n'));
  });

  it('when a variable is malformed and STORAGE_TYPE=postgresql lacks POSTGRES_URI, then both problems are reported together', () => {
    // loadConfig promises "one pass that reports every problem at once": fixing one variable must not reveal the next.
    const error = configError({ INGESTION_INTERVAL: 'banana', STORAGE_TYPE: 'postgresql' });
    assert.ok(error.message.includes('INGESTION_INTERVAL="banana"'), error.message);
    assert.match(error.message, /POSTGRES_URI is empty/);
    assert.equal(error.problems.length, 2);
  });

  it('when RETRY_MAX_DELAY alone is below the default RETRY_BASE_DELAY, then the error names RETRY_MAX_DELAY and shows the default base delay', () => {
    const error = configError({ RETRY_MAX_DELAY: '100ms' });
    assert.ok(error.message.includes('RETRY_MAX_DELAY="100ms" is not valid: expected at least RETRY_BASE_DELAY ("500ms")'), error.message);
  });

  it('when POSTGRES_URI is not a URL and holds a password, then the value is never echoed', () => {
    const secret = 'not-a-url-hunter2-S3cr3tP@ss';
    const error = configError({ STORAGE_TYPE: 'postgresql', POSTGRES_URI: secret });
    assert.match(error.message, /POSTGRES_URI/);
    assert.match(error.message, /value hidden/);
    assert.match(error.message, /a URL starting with postgres:\/\/ or postgresql:\/\//);
    assert.ok(!error.message.includes(secret));
    assert.ok(!error.message.includes('hunter2'));
    assert.ok(!error.message.includes('S3cr3tP@ss'));
    assert.ok(!error.problems.some((problem) => problem.includes('hunter2')));
  });

  it('when MONGODB_URI has the wrong scheme and credentials, then the value is never echoed', () => {
    const uri = 'http://admin:T0pSecret@db.example.com/app';
    const error = configError({ MONGODB_URI: uri });
    assert.match(error.message, /MONGODB_URI/);
    assert.ok(!error.message.includes('T0pSecret'));
    assert.ok(!error.message.includes(uri));
  });

  it('when RETRY_BASE_DELAY is longer than RETRY_MAX_DELAY, then the error names both', () => {
    const error = configError({ RETRY_BASE_DELAY: '1m', RETRY_MAX_DELAY: '30s' });
    assert.equal(error.problems.length, 1);
    assert.ok(error.message.includes('RETRY_BASE_DELAY="1m"'), error.message);
    assert.match(error.message, /at most RETRY_MAX_DELAY/);
  });

  it('when RETRY_BASE_DELAY equals RETRY_MAX_DELAY, then the config loads', () => {
    assert.deepEqual(loadConfig({ RETRY_BASE_DELAY: '2s', RETRY_MAX_DELAY: '2s' }).retry, { retries: 3, baseDelayMs: 2000, maxDelayMs: 2000 });
  });
});

describe('main binary with a bad variable', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const mainJs = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

  before(() => {
    // dist/ is produced by `npm run build` (the `npm test` script builds first).
    assert.ok(existsSync(mainJs), 'dist/main.js is missing: run `npm run build` first');
  });

  it('when INGESTION_INTERVAL=banana, then it prints one line naming the variable, no stack, and exits non-zero', () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, INGESTION_INTERVAL: 'banana' };
    const result = spawnSync(process.execPath, [mainJs], { cwd: root, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.error, undefined);
    assert.notEqual(result.status, 0);
    assert.notEqual(result.status, null, 'the process exited by itself rather than by a signal');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.ok(result.stderr.endsWith('\n'));
    assert.match(lines[0] as string, /INGESTION_INTERVAL="banana"/);
    assert.ok(!result.stderr.includes('    at '), 'no stack trace');
    assert.equal(result.stdout, '');
  });
});

describe('loadConfig: MongoDB database', () => {
  it('when MONGODB_URI names no database, then start-up stops instead of writing to "test"', () => {
    assert.throws(
      () => loadConfig({ STORAGE_TYPE: 'mongodb', MONGODB_URI: 'mongodb://user:hunter2@localhost:27017/' }),
      (error: unknown) => error instanceof ConfigError && /database name in its path/.test(error.message) && !error.message.includes('hunter2'),
    );
  });
});
