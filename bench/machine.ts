import os from 'node:os';
import type { Machine } from './results.js';

/** The machine the figures come from, as the table's header names it. */
export function describeMachine(loadAverageStart: number): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageStart,
    loadAverageEnd: currentLoad(),
  };
}

/** The 1-minute load average: roughly how many cores other work kept busy just before. */
export function currentLoad(): number {
  return Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
}
