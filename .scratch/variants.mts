import { spawn } from 'node:child_process';
import pino from 'pino';
import Fastify from 'fastify';
import { buildApp } from '../src/api/app.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { SqliteStore } from '../src/stores/sqlite/sqlite-store.js';
const store = new SqliteStore({ path: `/tmp/variants-${Date.now()}.db`, tableName: 'ingested_data', source: 's', batchSize: 100, runHistoryLimit: 100 });
await store.init();
const run = (url: string) => new Promise<number>((resolve) => {
  const p = spawn('node_modules/.bin/autocannon', ['-c', '50', '-d', '4', '-j', url], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = ''; p.stdout.on('data', (d) => (out += d)); p.on('exit', () => resolve(Math.round(JSON.parse(out).requests.average)));
});
const protection = { apiKeys: [], rateLimit: 0, trustProxy: false, corsOrigins: [], maxEventLoopDelayMs: 1000 };
const warn = () => createLogger({ logLevel: 'warn', logFormat: 'json' });
const variants: Record<string, () => Promise<any>> = {
  bare: async () => base(),
  'warn, nothing else': () => buildApp({ store, logger: warn(), version: 'x' }),
  'warn + metrics': () => buildApp({ store, logger: warn(), version: 'x', metrics: createMetrics() }),
  'warn + protection': () => buildApp({ store, logger: warn(), version: 'x', protection }),
  'silent, nothing else': () => buildApp({ store, logger: pino({ level: 'silent' }), version: 'x' }),
};
const base = () => { const f = Fastify(); f.get('/health', async () => ({ status: 'healthy', time: new Date().toISOString() })); return f; };
for (const [name, make] of Object.entries(variants)) {
  const app = await make();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${app.server.address().port}/health`;
  const rps = await run(url);
  console.error(`${name}: ${rps} rps`);
  await app.close();
}
