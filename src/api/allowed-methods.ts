import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';

/**
 * Which methods the app's routes take on a path, for the not-found handler: a path that exists, asked with
 * a method it does not take, is a 405 with `Allow` (RFC 9110 §15.5.6), not a 404. Fastify's router only says
 * that nothing matched, so the routes also go into a second find-my-way router (Fastify's own, with the same
 * defaults), consulted only for requests that matched nothing. Call before any route is registered.
 */
export function trackAllowedMethods(app: FastifyInstance): (path: string) => string[] {
  const router = FindMyWay();
  const methods = new Set<FindMyWay.HTTPMethod>();
  app.addHook('onRoute', (route) => {
    // A catch-all (CORS's OPTIONS *) would make every path, unknown ones too, look like it exists.
    if (route.url.includes('*')) return;
    for (const method of [route.method].flat().map((name) => name.toUpperCase() as FindMyWay.HTTPMethod)) {
      // find-my-way refuses a route twice; Fastify may announce one twice (a GET and the HEAD it adds).
      if (router.hasRoute(method, route.url)) continue;
      methods.add(method);
      router.on(method, route.url, () => undefined);
    }
  });
  return (path) => [...methods].filter((method) => router.find(method, path) !== null).sort();
}
