import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Every stdout line, parsed as JSON when it is. */
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  get<T = unknown>(path: string): Promise<{ status: number; body: T; headers: Headers }>;
  post<T = unknown>(path: string): Promise<{ status: number; body: T; headers: Headers }>;
  /** Polls `path` until `accept` holds for its JSON body, or fails after timeoutMs. */
  waitFor<T = unknown>(path: string, accept: (body: T) => boolean, timeoutMs?: number): Promise<T>;
  /**
   * Resolves with the log lines matching `wanted` once there are at least `count` of them. The service writes
   * its log asynchronously, so a line can arrive after the HTTP answer that reports what it logged.
   */
  waitForLogs(wanted: (line: Record<string, unknown>) => boolean, count: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/**
 * The built service (dist/main.js) as a child process, with the environment given (LOG_LEVEL info or lower),
 * answering on the port the OS picked for it: a port chosen here and handed over could be taken meanwhile.
 */
export async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  // Above info the `service started` line, which names the port, is not written: say so rather than time out.
  if (['warn', 'error', 'fatal', 'silent'].includes(env.LOG_LEVEL ?? '')) throw new Error(`startService needs LOG_LEVEL info or lower, not ${env.LOG_LEVEL}`);
  const child = spawn(process.execPath, [ENTRY], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', SERVER_PORT: '0', INGESTION_INTERVAL: '1h', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = await pollUntil(20_000, 20, async () => {
    if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}): ${stderr.join(' | ')}`);
    return logs.find((line) => line.msg === 'service started' && typeof line.port === 'number');
  });
  if (!started) {
    child.kill('SIGKILL');
    throw new Error(`timed out waiting for the service to start; stderr ${stderr.join(' | ')}`);
  }
  const url = `http://127.0.0.1:${String(started.port)}`;

  // A service started with API_KEYS is called with the first key, as its operator would.
  const apiKey = env.API_KEYS?.split(',')[0]?.trim();
  const headers: Record<string, string> = apiKey ? { 'x-api-key': apiKey } : {};
  const call = async <T>(method: string, path: string) => {
    const response = await fetch(url + path, { method, headers });
    return { status: response.status, body: (await response.json()) as T, headers: response.headers };
  };
  const get = <T>(path: string) => call<T>('GET', path);
  const post = <T>(path: string) => call<T>('POST', path);
  const waitFor = async <T>(path: string, accept: (body: T) => boolean, timeoutMs = 20_000): Promise<T> => {
    let last: unknown;
    const found = await pollUntil(timeoutMs, 50, async () => {
      if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}): ${stderr.join(' | ')}`);
      try {
        const { status, body } = await get<T>(path);
        last = body;
        return status === 200 && accept(body) ? { body } : undefined;
      } catch {
        return undefined; // not listening yet
      }
    });
    if (found) return found.body;
    throw new Error(`timed out waiting on ${path}; last answer ${JSON.stringify(last)}; stderr ${stderr.join(' | ')}`);
  };
  const waitForLogs = async (wanted: (line: Record<string, unknown>) => boolean, count: number, timeoutMs = 10_000) => {
    const found = await pollUntil(timeoutMs, 20, async () => {
      const lines = logs.filter(wanted);
      return lines.length >= count ? lines : undefined;
    });
    if (found) return found;
    throw new Error(`timed out waiting for ${count} log lines; found ${logs.filter(wanted).length}`);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null) child.kill(signal);
    return exited;
  };

  const service: ServiceProcess = { url, child, logs, stderr, get, post, waitFor, waitForLogs, stop, exited };
  return service;
}

/** Calls `attempt` every `everyMs` until it returns something, or returns undefined after `timeoutMs`. */
async function pollUntil<T>(timeoutMs: number, everyMs: number, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await attempt();
    if (result !== undefined) return result;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return undefined;
}
