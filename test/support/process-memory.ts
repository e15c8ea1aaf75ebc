import { readFileSync, writeFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set size now. */
  readonly rssBytes: number;
  /** The largest resident set size since the process started, as the kernel tracked it (no sampling gaps). */
  readonly peakRssBytes: number;
}

/** Reads VmRSS and VmHWM from /proc/<pid>/status, so Linux only; throws when the process is gone. */
export function readProcessMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kibibytes = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kibibytes('VmRSS'), peakRssBytes: kibibytes('VmHWM') };
}

/** Starts a new peak from the current RSS (writing 5 to clear_refs resets VmHWM; Linux 4.0 and later). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
