import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import { withoutQuerySecrets } from './log-safe.js';
import { DYNAMODB_LIMITS } from './stores/dynamodb/dynamodb-store-config.js';
import { connectionStringParts, MONGODB_LIMITS } from './stores/mongodb/mongodb-store-config.js';

export const STORAGE_TYPES = ['sqlite', 'postgresql', 'mongodb', 'dynamodb'] as const;
export type StorageType = (typeof STORAGE_TYPES)[number];
/** Stores whose items cannot hold every record: the bound MAX_RECORD_BYTES defaults down to, and may not exceed. */
const RECORD_LIMITS: Partial<Record<StorageType, { readonly bytes: number; readonly shown: string }>> = {
  dynamodb: { bytes: DYNAMODB_LIMITS.maxRecordBytes, shown: '399KiB on DynamoDB, whose items hold 400 KB' },
  mongodb: { bytes: MONGODB_LIMITS.maxRecordBytes, shown: '16383KiB on MongoDB, whose documents hold 16 MiB' },
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['json', 'pretty'] as const;

export interface RetryPolicy {
  /** Retries after the first attempt: 3 means at most 4 attempts. */
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface Config {
  readonly storageType: StorageType;
  readonly tableName: string;
  readonly sqlitePath: string;
  readonly postgresUri: string;
  readonly postgresPoolSize: number;
  readonly mongodbUri: string;
  readonly awsRegion: string;
  readonly dynamodbEndpoint: string;
  readonly dynamodbCreateTables: boolean;
  readonly batchSize: number;
  readonly apiEndpoint: string;
  readonly sourceName: string;
  readonly ingestionIntervalMs: number;
  readonly runTimeoutMs: number;
  readonly apiTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxRecordBytes: number;
  readonly retry: RetryPolicy;
  readonly serverPort: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logFormat: (typeof LOG_FORMATS)[number];
  readonly shutdownTimeoutMs: number;
  /** Never empty: REPLICA_ID, or `<hostname>-<pid>` when it is not set. */
  readonly replicaId: string;
  readonly leaseTtlMs: number;
  readonly apiKeys: readonly string[];
  /** Requests per minute per client; 0 turns rate limiting off. */
  readonly rateLimit: number;
  readonly trustProxy: boolean | string;
  /** Origins allowed to call the API from a browser; empty means CORS stays off. */
  readonly corsOrigins: readonly string[];
  /** Event-loop delay past which the API sheds load with 503; 0 turns shedding off. */
  readonly maxEventLoopDelayMs: number;
}

type ParseResult<T> = { value: T } | { expected: string };

/** One environment variable: its default as a user writes it, what it means, and how to read it. */
export interface Setting<T> {
  readonly env: string;
  readonly default: string;
  readonly description: string;
  /** Returns the value, or a sentence saying what the variable takes. */
  readonly parse: (text: string) => ParseResult<T>;
  /** Values that may hold credentials are never echoed in an error. */
  readonly secret?: boolean;
}

const oneOf = <T extends string>(choices: readonly T[]) => (text: string): ParseResult<T> =>
  (choices as readonly string[]).includes(text) ? { value: text as T } : { expected: `one of ${choices.join(', ')}` };

const integer = (min: number, max: number) => (text: string): ParseResult<number> => {
  const n = Number(text);
  return /^-?\d+$/.test(text.trim()) && n >= min && n <= max
    ? { value: n }
    : { expected: `an integer from ${min} to ${max}` };
};

/** Node's timers wait at most 2^31 - 1 ms (24.8 days); a longer delay fires at once, so a schedule would spin. */
const MAX_DURATION_HOURS = 596;
const MAX_DURATION_MS = MAX_DURATION_HOURS * 3_600_000;

const duration = (min: number) => (text: string): ParseResult<number> => {
  const ms = parseDuration(text);
  if (ms === undefined) return { expected: 'a duration in Go syntax such as 500ms, 30s, 5m or 1h30m' };
  if (ms < min) return { expected: `a duration of at least ${min}ms` };
  return ms <= MAX_DURATION_MS ? { value: ms } : { expected: `a duration of at most ${MAX_DURATION_HOURS}h (24.8 days, the longest a timer waits)` };
};

const boolean = (text: string): ParseResult<boolean> =>
  ['true', 'false'].includes(text.toLowerCase()) ? { value: text.toLowerCase() === 'true' } : { expected: 'true or false' };

/** Names proxy-addr (Fastify's trustProxy) takes for the private ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IP address, a CIDR range of one, or a range name. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address = '', prefix, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  // A /0 range is every address, which Fastify's proxy-addr refuses: that is TRUST_PROXY=true.
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (version === 4 ? 32 : 128));
}

/**
 * `false`; the proxies' addresses or ranges, whose X-Forwarded-For entries are believed (the client is the
 * first address no trusted proxy has); or `true`, every entry, so the client is whatever the header begins with.
 */
const proxyTrust = (text: string): ParseResult<boolean | string> => {
  const answer = boolean(text);
  if ('value' in answer) return answer;
  const entries = commaList(text);
  return entries.length > 0 && entries.every(isProxyAddress)
    ? { value: entries.join(',') }
    : { expected: "false, the proxies' addresses or CIDR ranges, comma-separated (such as 10.0.0.0/8), or true" };
};

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

const byteSize = (text: string): ParseResult<number> => {
  const match = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/.exec(text.trim());
  // A form it cannot read (1.5MiB, 10kb) is told the form, not a bound it may well be above.
  if (!match) return { expected: 'a whole number of bytes, or one with a unit (case as written: B, KB, MB, GB, KiB, MiB, GiB), such as 1048576, 64MiB or 1GB' };
  const value = Number(match[1]) * (BYTE_UNITS[match[2] ?? ''] as number);
  if (value < 1024) return { expected: 'a size of at least 1024 bytes, such as 1048576, 64MiB or 1GB' };
  return value <= Number.MAX_SAFE_INTEGER ? { value } : { expected: `a size of at most ${Number.MAX_SAFE_INTEGER} bytes (2^53 - 1)` };
};

/** The non-empty items of a comma-separated value, trimmed. */
const commaList = (value: string): string[] => value.split(',').map((item) => item.trim()).filter((item) => item !== '');

/** API keys: comma-separated, each long enough not to be guessed and free of spaces and commas. */
const keyList = (value: string): ParseResult<readonly string[]> => {
  const keys = commaList(value);
  // A value of commas only (`,,`) names no key: taking it as "no keys" would leave the API open.
  return (value === '' || keys.length > 0) && keys.every((key) => /^[\x21-\x7e]{16,256}$/.test(key))
    ? { value: Object.freeze(keys) }
    : { expected: 'comma-separated keys of 16 to 256 visible ASCII characters each' };
};

/** Browser origins such as https://app.example.com, comma-separated, or `*` for any. */
const originList = (value: string): ParseResult<readonly string[]> => {
  const origins = commaList(value);
  const valid = origins.every((origin) => origin === '*' || /^https?:\/\/[^/\s*]+$/.test(origin));
  return valid ? { value: Object.freeze(origins) } : { expected: 'comma-separated origins such as https://app.example.com (scheme and host, no path), or *' };
};

const text = (pattern: RegExp, expected: string) => (value: string): ParseResult<string> =>
  pattern.test(value) ? { value } : { expected };

const url = (protocols: readonly string[]) => (value: string): ParseResult<string> => {
  if (value === '') return { value };
  const expected = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  try {
    return protocols.includes(new URL(value).protocol) ? { value } : { expected };
  } catch {
    return { expected: protocols.some((p) => value.toLowerCase().startsWith(`${p}//`)) ? `${expected} that parses: ${MALFORMED_URL}` : expected };
  }
};

/** What usually makes a URL with the right scheme fail to parse. */
const MALFORMED_URL = 'a port up to 65535, and `/`, `#`, `?` or `@` in a user name or password percent-encoded';

/** MongoDB's own grammar: a replica set's several hosts are no WHATWG URL (connectionStringParts). */
const mongodbUri = (value: string): ParseResult<string> =>
  value === '' || connectionStringParts(value) ? { value } : { expected: `a connection string starting with mongodb:// or mongodb+srv://, with ${MALFORMED_URL}` };

/**
 * SQLite's special names would give the API's reader and the writer thread two databases: each opens the
 * path on its own connection, and `:memory:` or a `file:` URI with `mode=memory` is a database per connection.
 */
const sqlitePath = (value: string): ParseResult<string> =>
  value !== ':memory:' && !/^file:/i.test(value) ? { value } : { expected: 'a file path, not :memory: or a file: URI (the API and the writer thread each open the file)' };

/**
 * A value as an error message echoes it back: API_ENDPOINT may carry credentials, in a `user:password@` part
 * or in the query (`?token=`), and both are hidden. Everything up to the last `@` goes: a value echoed is one
 * that did not parse, often for a password holding `/`, `#` or `?`, which would end a user-info part early.
 */
const shownValue = (value: string): string => withoutQuerySecrets(value.replace(/^((?:[a-z][a-z\d+.-]*:)?\/\/)?[\s\S]*@/i, '$1(credentials hidden)@'));

/**
 * Every setting, in the order of the README's configuration table. The README table is checked against this
 * list by a test, so a default written here is the default documented there.
 */
export const SETTINGS = {
  storageType: { env: 'STORAGE_TYPE', default: 'sqlite', description: 'where records are stored: sqlite, postgresql, mongodb or dynamodb', parse: oneOf(STORAGE_TYPES) },
  awsRegion: { env: 'AWS_REGION', default: 'us-west-2', description: 'DynamoDB region', parse: text(/^(?!-)[a-z0-9-]{1,63}(?<!-)$/, 'an AWS region such as us-west-2') },
  tableName: { env: 'TABLE_NAME', default: 'ingested_data', description: 'table or collection for records; status, run history, run lease and schema version live beside it (`<name>_status`, `<name>_runs`, `<name>_lease`; SQLite and PostgreSQL add `<name>_migrations`, DynamoDB keeps the lease in `_status`). On SQLite, names that differ only in case are the same tables', parse: text(/^[A-Za-z_][A-Za-z0-9_]{2,47}$/, '3 to 48 letters, digits or underscores, starting with a letter or underscore') },
  dynamodbEndpoint: { env: 'DYNAMODB_ENDPOINT', default: '', description: "DynamoDB endpoint for local testing; empty means AWS itself. Credentials come from the AWS SDK's chain (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, a profile, an IAM role); a local endpoint takes any pair", parse: url(['http:', 'https:']) },
  dynamodbCreateTables: { env: 'DYNAMODB_CREATE_TABLES', default: 'true', description: 'create missing DynamoDB tables (on-demand billing) at start', parse: boolean },
  mongodbUri: { env: 'MONGODB_URI', default: '', description: 'MongoDB connection string; the database comes from its path', parse: mongodbUri, secret: true },
  postgresUri: { env: 'POSTGRES_URI', default: '', description: 'PostgreSQL connection string; TLS options (`sslmode`) pass through', parse: url(['postgres:', 'postgresql:']), secret: true },
  postgresPoolSize: { env: 'POSTGRES_POOL_SIZE', default: '10', description: 'PostgreSQL connection pool size', parse: integer(1, 1000) },
  sqlitePath: { env: 'SQLITE_PATH', default: './data/ingestion.db', description: "SQLite database file; its directory is created, and takes SQLite's temporary files (a large run's stage) unless `SQLITE_TMPDIR` or `TMPDIR` is set", parse: sqlitePath },
  apiEndpoint: { env: 'API_ENDPOINT', default: 'https://jsonplaceholder.typicode.com/posts', description: 'where records come from: a URL answering a JSON array; `user:password@` in it is sent as Basic auth', parse: url(['http:', 'https:']) },
  sourceName: { env: 'SOURCE_NAME', default: 'placeholder_api', description: 'the `source` stamped on every record', parse: text(/^[\w.:-]{1,100}$/, '1 to 100 letters, digits, `_`, `-`, `.` or `:`') },
  ingestionIntervalMs: { env: 'INGESTION_INTERVAL', default: '5m', description: 'time between the starts of two runs, across all replicas; the schedule lives in the store, so a restart does not add a run', parse: duration(100) },
  runTimeoutMs: { env: 'RUN_TIMEOUT', default: '1h', description: 'longest a run may take, retries included; a run past it fails (its writes dropped) and the schedule goes on', parse: duration(1000) },
  apiTimeoutMs: { env: 'API_TIMEOUT', default: '30s', description: 'per request attempt: the longest wait for the response headers, and the longest silence while the body streams (each checked every half second, so up to 0.5s more)', parse: duration(1000) },
  retries: { env: 'RETRY_COUNT', default: '3', description: 'retries after the first attempt (3 means at most 4 attempts)', parse: integer(0, 100) },
  retryBaseDelayMs: { env: 'RETRY_BASE_DELAY', default: '500ms', description: 'first backoff ceiling; doubles with each retry, with full jitter', parse: duration(0) },
  retryMaxDelayMs: { env: 'RETRY_MAX_DELAY', default: '30s', description: 'longest wait between attempts, `Retry-After` included', parse: duration(0) },
  maxResponseBytes: { env: 'MAX_RESPONSE_BYTES', default: '512MiB', description: 'largest upstream response accepted; a larger one fails the run (bytes, or with KB, MB, GB, KiB, MiB, GiB)', parse: byteSize },
  maxRecordBytes: { env: 'MAX_RECORD_BYTES', default: '1MiB', description: 'largest record (its JSON text) accepted; a larger one is skipped unread and counted as rejected. On DynamoDB at most 399KiB (an item holds 400 KB), which is then the default; on MongoDB at most 16383KiB (a document holds 16 MiB)', parse: byteSize },
  batchSize: { env: 'BATCH_SIZE', default: '1000', description: 'records written per statement or request', parse: integer(1, 10_000) },
  serverPort: { env: 'SERVER_PORT', default: '8080', description: 'HTTP port; 0 lets the OS pick one, which the `service started` log line names (`port`, at `LOG_LEVEL` info or lower)', parse: integer(0, 65535) },
  logLevel: { env: 'LOG_LEVEL', default: 'info', description: `log verbosity: ${LOG_LEVELS.join(', ')}`, parse: oneOf(LOG_LEVELS) },
  logFormat: { env: 'LOG_FORMAT', default: 'json', description: 'json (one line per event), or pretty for a terminal', parse: oneOf(LOG_FORMATS) },
  replicaId: { env: 'REPLICA_ID', default: '', description: 'this replica\'s name in the run lease, `/status` and `/runs`; empty means `<hostname>-<pid>`. Unique per replica', parse: text(/^[\w.:-]{0,100}$/, 'up to 100 letters, digits, `_`, `-`, `.` or `:`') },
  leaseTtlMs: { env: 'LEASE_TTL', default: '30s', description: 'how long a replica\'s run lease lasts unless renewed (every third of it); another replica takes over a dead holder\'s runs after it', parse: duration(1000) },
  apiKeys: { env: 'API_KEYS', default: '', description: 'comma-separated API keys, each 16 to 256 visible ASCII characters; when set, every route but `/health`, `/ready` and `/metrics` needs one. `POST /ingest` needs one always', parse: keyList, secret: true },
  rateLimit: { env: 'RATE_LIMIT', default: '6000', description: 'requests per minute per client IP; 0 turns limiting off (probes and `/metrics` are never limited)', parse: integer(0, 1_000_000) },
  trustProxy: { env: 'TRUST_PROXY', default: 'false', description: 'where the client IP (which the rate limit counts by) comes from: `false`, the connection; the addresses or CIDR ranges of the HTTP proxies in front (`10.0.0.0/8,fd00::/8`), the `X-Forwarded-For` entry the nearest untrusted hop added; `true`, its first entry, which any client can write', parse: proxyTrust },
  corsOrigins: { env: 'CORS_ORIGINS', default: '', description: 'browser origins allowed to call the API, each exact (`https://app.example.com`, no wildcards in it), comma-separated, or `*`; empty means CORS stays off', parse: originList },
  maxEventLoopDelayMs: { env: 'MAX_EVENT_LOOP_DELAY', default: '1s', description: 'event-loop delay past which requests are answered 503 at once instead of queueing; 0 turns shedding off', parse: duration(0) },
  shutdownTimeoutMs: { env: 'SHUTDOWN_TIMEOUT', default: '10s', description: 'how long a graceful shutdown may take before the process exits anyway', parse: duration(1) },
} as const satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
type Parsed = { [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never };

/**
 * Reads the configuration from an environment in one pass and reports every problem at once, each naming
 * the variable, what it got and what it takes. Returns a frozen, typed Config.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const parsed: Partial<Record<keyof Settings, unknown>> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Settings, Setting<unknown>][]) {
    const raw = env[setting.env];
    const given = raw === undefined || raw.trim() === '' ? setting.default : raw.trim();
    const result = setting.parse(given);
    if ('value' in result) {
      parsed[key] = result.value;
    } else {
      const shown = setting.secret ? '(value hidden)' : JSON.stringify(shownValue(given));
      problems.push(`${setting.env}=${shown} is not valid: expected ${result.expected}`);
    }
  }
  const values = parsed as Parsed;
  // Checks across variables run whenever the variables they read parsed, so every problem shows at once.
  {
    if (values.storageType === 'postgresql' && values.postgresUri === '') {
      problems.push('POSTGRES_URI is empty: STORAGE_TYPE=postgresql needs a connection string such as postgres://user:pass@host:5432/db');
    }
    if (values.storageType === 'mongodb' && values.mongodbUri === '') {
      problems.push('MONGODB_URI is empty: STORAGE_TYPE=mongodb needs a connection string such as mongodb://host:27017/db');
    } else if (values.storageType === 'mongodb' && values.mongodbUri !== undefined && connectionStringParts(values.mongodbUri)?.database === '') {
      // Without a database in the path the driver silently writes to "test".
      problems.push('MONGODB_URI=(value hidden) is not valid: expected a database name in its path, such as mongodb://host:27017/ingestion');
    }
    if (values.storageType === 'sqlite' && values.tableName !== undefined && /^sqlite_/i.test(values.tableName)) {
      problems.push(`TABLE_NAME=${JSON.stringify(values.tableName)} is not valid: SQLite reserves names starting with sqlite_`);
    }
    // The default gives way to a store's item limit (RECORD_LIMITS, below); a larger value asked for by name is a mistake.
    const maxRecordBytes = env.MAX_RECORD_BYTES?.trim();
    const recordLimit = values.storageType === undefined ? undefined : RECORD_LIMITS[values.storageType];
    if (recordLimit && maxRecordBytes && values.maxRecordBytes !== undefined && values.maxRecordBytes > recordLimit.bytes) {
      problems.push(`MAX_RECORD_BYTES=${JSON.stringify(maxRecordBytes)} is not valid: expected at most ${recordLimit.shown}`);
    }
    if (values.retryBaseDelayMs !== undefined && values.retryMaxDelayMs !== undefined && values.retryBaseDelayMs > values.retryMaxDelayMs) {
      const given = (name: 'RETRY_BASE_DELAY' | 'RETRY_MAX_DELAY', fallback: string) => JSON.stringify(env[name]?.trim() || fallback);
      const base = given('RETRY_BASE_DELAY', SETTINGS.retryBaseDelayMs.default);
      const max = given('RETRY_MAX_DELAY', SETTINGS.retryMaxDelayMs.default);
      // The line names the variable that was set: with only RETRY_MAX_DELAY given, the default base is not the mistake.
      problems.push(
        env.RETRY_BASE_DELAY?.trim()
          ? `RETRY_BASE_DELAY=${base} is not valid: expected at most RETRY_MAX_DELAY (${max})`
          : `RETRY_MAX_DELAY=${max} is not valid: expected at least RETRY_BASE_DELAY (${base})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const { retries, retryBaseDelayMs, retryMaxDelayMs, replicaId, ...rest } = values;
  return Object.freeze({
    ...rest,
    maxRecordBytes: Math.min(rest.maxRecordBytes, RECORD_LIMITS[rest.storageType]?.bytes ?? Number.POSITIVE_INFINITY),
    // In a container the pid is 1, so a restarted container takes its own lease back at once.
    replicaId: replicaId || `${hostname()}-${process.pid}`,
    retry: Object.freeze({ retries, baseDelayMs: retryBaseDelayMs, maxDelayMs: retryMaxDelayMs }),
  });
}
