import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Open without an API key, never rate limited or shed: probes and the metrics scrape. */
    public?: boolean;
  }
}

/** Whether the request is for a route marked `config: { public: true }`. */
export function isPublicRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config.public === true;
}
