import { readFile, writeFile } from 'node:fs/promises';

/**
 * Peak resident memory of a process, from Linux's own accounting: VmHWM in /proc/<pid>/status is the highest
 * RSS the process has reached, so no sampling interval can miss a short peak.
 */
export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Starts a new peak from the current RSS (writing 5 to clear_refs resets VmHWM; Linux 4.0 and later). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}
