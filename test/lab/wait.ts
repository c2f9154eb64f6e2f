import { existsSync } from 'node:fs';
import { waitFor } from '../support/wait.js';
import { waitTcpPort } from './tcp-probe.js';
import type { LabProcess } from './types.js';

/** Polls until path exists; fails early when proc exits first. */
export async function waitForFile(path: string, timeoutMs: number, proc: LabProcess, what: string): Promise<void> {
  await waitFor(`${what} ${path} to appear; see ${proc.logFile}`, timeoutMs, () => {
    if (existsSync(path)) return true;
    if (!proc.isAlive()) throw new Error(`${proc.name} exited before creating its ${what} (${path}); see ${proc.logFile}`);
    return false;
  }, { intervalMs: 20 });
}

/**
 * Waits until ip:port (seen from ns) accepts connections; fails early when proc exits first, with
 * exitDetail() (by default where its log is) in that error.
 */
export async function waitProcessPort(
  proc: LabProcess,
  ns: string | undefined,
  ip: string,
  port: number,
  timeoutMs = 10_000,
  exitDetail = () => `; see ${proc.logFile}`,
): Promise<void> {
  let settled = false;
  const exitedEarly = proc.exited.then((code) => {
    if (!settled) throw new Error(`${proc.name} exited (code ${code}) before listening on ${ip}:${port}${exitDetail()}`);
  });
  exitedEarly.catch(() => undefined); // observed through the race below
  try {
    await Promise.race([waitTcpPort(ns, ip, port, timeoutMs), exitedEarly]);
  } finally {
    settled = true;
  }
}
