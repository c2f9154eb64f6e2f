import { existsSync } from 'node:fs';
import { waitTcpPort } from './tcp-probe.js';
import type { LabProcess } from './types.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until path exists; fails early when proc exits first. */
export async function waitForFile(path: string, timeoutMs: number, proc: LabProcess, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (!proc.isAlive()) throw new Error(`${proc.name} exited before creating its ${what} (${path}); see ${proc.logFile}`);
    if (Date.now() > deadline) throw new Error(`${what} ${path} did not appear within ${timeoutMs} ms; see ${proc.logFile}`);
    await sleep(20);
  }
}

/** Waits until ip:port (seen from ns) accepts connections; fails early when proc exits first. */
export async function waitProcessPort(proc: LabProcess, ns: string, ip: string, port: number, timeoutMs = 10_000): Promise<void> {
  let settled = false;
  const exitedEarly = proc.exited.then((code) => {
    if (!settled) throw new Error(`${proc.name} exited (code ${code}) before listening on ${ip}:${port}; see ${proc.logFile}`);
  });
  exitedEarly.catch(() => undefined); // observed through the race below
  try {
    await Promise.race([waitTcpPort(ns, ip, port, timeoutMs), exitedEarly]);
  } finally {
    settled = true;
  }
}
