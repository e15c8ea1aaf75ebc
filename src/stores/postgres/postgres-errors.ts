import pg from 'pg';
import { errorCode, RunSupersededError, StoreSetupError, StoreUnavailableError } from '../../errors.js';
import type { RetryDecision } from '../../retry/retry.js';
import { NETWORK_REASONS } from '../network-reasons.js';

/**
 * Runs a database call and turns any driver or network error into the contract's StoreUnavailableError. The
 * driver's text (which can name hosts, users or SQL) goes only into `cause`, never into the message.
 */
export async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof StoreUnavailableError || error instanceof RunSupersededError) throw error;
    const code = error instanceof pg.DatabaseError ? (error.code ?? '') : '';
    throw new StoreUnavailableError(operation, { cause: error, refusal: LASTING_REFUSALS[code] });
  }
}

/** A duplicate key: SQLSTATE 23505. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === '23505';
}

/**
 * SQLSTATE classes worth another attempt while connecting: connection exception (08), insufficient resources
 * (53: too many connections) and operator intervention (57: starting up, shutting down). Anything else the
 * server answers (a wrong password, a missing database, no privilege) will answer the same next time.
 */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57']);

/**
 * OpenSSL's names for a server certificate Node does not trust. Under pg 8, `sslmode=require` verifies as
 * `verify-full` does, so a self-signed or private-CA certificate fails here (docs/postgresql.md, TLS).
 */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** pg's error when sslmode asks for TLS and the server answers that it has none. */
const NO_TLS_MESSAGE = 'The server does not support SSL connections';

/** Why TLS failed, when it did: a setting to fix (sslmode, sslrootcert), not a moment to wait for. */
function tlsFailure(error: unknown): string | undefined {
  const code = errorCode(error);
  if (code !== undefined && UNTRUSTED_CERTIFICATE.has(code)) return `its TLS certificate is not trusted (${code}): give its CA with sslrootcert, or see sslmode in docs/postgresql.md`;
  if (error instanceof Error && error.message === NO_TLS_MESSAGE) return 'it does not offer TLS, which sslmode asks for';
  // pg reads sslrootcert, sslcert and sslkey when it connects; the path stays out of the message.
  if ((code === 'ENOENT' || code === 'EACCES') && typeof (error as { path?: unknown }).path === 'string') return `a file the URI names (sslrootcert, sslcert or sslkey) cannot be read (${code})`;
  return undefined;
}

/**
 * Decides whether `init()` tries again. Errors without a SQLSTATE come from the network, and are retried,
 * but for TLS refusals: the same certificate would be refused again.
 */
export function classifyConnectError(error: unknown): RetryDecision {
  if (error instanceof StoreSetupError) return { retryable: false, reason: 'setup' };
  if (tlsFailure(error)) return { retryable: false, reason: 'tls' };
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    return { retryable: TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2)), reason: `SQLSTATE ${code}` };
  }
  return { retryable: true, reason: 'network' };
}

/** Answers the server gives again until someone changes its setup (a password, a grant, a dropped table). */
const LASTING_REFUSALS: Readonly<Record<string, string>> = {
  '28P01': 'authentication failed',
  '28000': 'authentication failed',
  '3D000': 'database does not exist',
  '42501': 'permission denied',
  '42P01': 'a table of the service does not exist',
  '42703': 'a table of the service lacks a column it needs (altered by hand?)',
  '42P10': 'a table of the service lost the key it needs (altered by hand?)',
  '25006': 'the server is read-only',
};

const SERVER_REASONS: Readonly<Record<string, string>> = {
  ...LASTING_REFUSALS,
  '53300': 'too many connections',
  '57P03': 'the server is starting up',
};

/** Why a connection failed, in our own words: safe for a log line or a one-line start-up error. */
export function describeConnectFailure(error: unknown): string {
  const tls = tlsFailure(error);
  if (tls) return tls;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (error instanceof pg.DatabaseError) return SERVER_REASONS[code] ?? `the server refused (SQLSTATE ${code})`;
  if (NETWORK_REASONS[code]) return NETWORK_REASONS[code];
  if (error instanceof Error && /timeout/i.test(error.message)) return 'connection timed out';
  return 'connection failed';
}

/** Host, port and database of a connection string, without user or password; for error messages. */
export function describeTarget(uri: string): string {
  try {
    const url = new URL(uri);
    return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return 'the configured server';
  }
}
