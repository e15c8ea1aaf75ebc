import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/free-port.js';

export const SERVICE_ENTRY = fileURLToPath(new URL('../dist/main.js', import.meta.url));
export const BARE_SERVER_ENTRY = fileURLToPath(new URL('./bare-server.js', import.meta.url));

const READY_POLL_MS = 5;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface HttpChild {
  readonly url: string;
  readonly pid: number;
  /** Wall-clock time of the spawn, in ms since the epoch: what the child's own timestamps can be compared with. */
  readonly spawnedAt: number;
  /** Milliseconds from spawn() to the first 200 on the ready path. */
  readonly startupMs: number;
  /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
  stop(): Promise<void>;
}

export interface HttpChildSpec {
  readonly entry: string;
  /** The variable that receives the free port chosen here (SERVER_PORT for the service). */
  readonly portVariable: string;
  readonly env: Readonly<Record<string, string>>;
  /** Polled every 5 ms from the moment of spawn until it answers 200. */
  readonly readyPath: string;
}

/**
 * Starts a Node.js HTTP server as a child process under plain `node` and times it to its first 200. Unlike the
 * tests' startService, which parses every log line in this process (the port the service picked among them),
 * output goes to /dev/null (as to a log file: the service still formats every line) and readiness is polled
 * every 5 ms from the spawn, on a port chosen here, so neither the start-up figure nor a serving run is skewed
 * by the harness.
 */
export async function startHttpChild(spec: HttpChildSpec): Promise<HttpChild> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const spawnedAt = Date.now();
  const start = performance.now();
  const child = spawn(process.execPath, [spec.entry], {
    env: { PATH: process.env.PATH ?? '', ...spec.env, [spec.portVariable]: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = once(child, 'exit');
  const stop = () => stopChild(child, exited);
  try {
    const startupMs = (await firstOk(url + spec.readyPath, child, stderr)) - start;
    return { url, pid: child.pid as number, spawnedAt, startupMs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function firstOk(url: string, child: ChildProcess, stderr: readonly string[]): Promise<number> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before answering: ${stderr.join('').trim()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    await sleep(READY_POLL_MS);
  }
  throw new Error(`no 200 from ${url} within ${READY_TIMEOUT_MS} ms: ${stderr.join('').trim()}`);
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(kill);
}
