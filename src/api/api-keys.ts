import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.js';
import { isPublicRoute } from './public-routes.js';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** The key a request presents: `Authorization: Bearer <key>`, else `X-API-Key`. */
function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  const bearer = typeof authorization === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  const header = request.headers['x-api-key'];
  return bearer ?? (typeof header === 'string' ? header.trim() : undefined);
}

/**
 * Checks a key against every configured one in constant time: digests have one length whatever the key's,
 * and every key is compared, so neither the time nor an early exit tells how close a guess came.
 */
export function keyMatcher(keys: readonly string[]): (request: FastifyRequest) => boolean {
  const known = keys.map(digest);
  return (request) => {
    const key = presentedKey(request);
    if (key === undefined) return false;
    const given = digest(key);
    let matched = false;
    for (const candidate of known) matched = timingSafeEqual(candidate, given) || matched;
    return matched;
  };
}

/**
 * With API keys configured, every request needs one, except public routes and, with CORS on, preflights (a
 * browser sends those without credentials; CORS answers them on every path alike, so they carry no data).
 * Unknown routes need a key too, and so does OPTIONS without CORS, where its 405 or 404 would tell which
 * paths exist: the API's shape is not there to probe without one.
 */
export function requireApiKeys(app: FastifyInstance, keys: readonly string[], { corsPreflights }: { corsPreflights: boolean }): void {
  const matches = keyMatcher(keys);
  // preParsing: after every onRequest hook, so the rate limit (a route-level onRequest hook) counts wrong
  // keys too; before the body is read and the request validated, so without a key nothing else is revealed.
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!isPublicRoute(request) && !(corsPreflights && request.method === 'OPTIONS') && !matches(request)) throw new UnauthorizedError();
    return payload;
  });
}
