// @ts-check
/**
 * The serving and start-up baseline: Fastify with a route that answers a fixed JSON body, no plugins, no
 * logging, no store; `/bare/:id` answers the same body, so it can be loaded with random ids as /posts/{id}
 * is. Plain JavaScript on purpose: it starts under plain `node` exactly as dist/main.js does, so its
 * start-up time is not inflated by a TypeScript loader. BENCH_BARE_PORT and BENCH_BARE_BODY set it up.
 */
import Fastify from 'fastify';

const port = Number(process.env.BENCH_BARE_PORT);
// Sent as the service sends a post: a string already serialised, with the JSON content type.
const body = process.env.BENCH_BARE_BODY ?? '{}';

const app = Fastify();
const answer = async (_request, reply) => reply.type('application/json; charset=utf-8').send(body);
app.get('/bare', answer);
app.get('/bare/:id', answer);
await app.listen({ port, host: '127.0.0.1' });

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
