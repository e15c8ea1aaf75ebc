import { spawn } from 'node:child_process';
import { startFakeUpstream, makePosts } from '../test/support/fake-upstream.js';
import { startService } from '../test/support/service-process.js';
const upstream = await startFakeUpstream(makePosts(10000));
const env = { STORAGE_TYPE: 'sqlite', SQLITE_PATH: `/tmp/serve-${Date.now()}.db`, API_ENDPOINT: upstream.url, RATE_LIMIT: '0', LOG_LEVEL: process.env.LL ?? 'info', ...(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {}) };
const svc = await startService(env);
await svc.waitFor('/status', (s: any) => s.status === 'success');
const run = (url: string) => new Promise<string>((resolve) => {
  const p = spawn('node_modules/.bin/autocannon', ['-c', '50', '-d', '5', '-j', url], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = ''; p.stdout.on('data', (d) => (out += d)); p.on('exit', () => { const r = JSON.parse(out); resolve(`${url.replace(svc.url,'')} ${Math.round(r.requests.average)} rps p50 ${r.latency.p50} p99 ${r.latency.p99}`); });
});
console.log(await run(`${svc.url}/posts/123`));
console.log(await run(`${svc.url}/health`));
await svc.stop(); await upstream.close();
