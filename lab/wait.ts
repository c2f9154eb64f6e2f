import { existsSync } from 'node:fs';
import { waitTcpPort } from './tcp-probe.js';
import type { LabProcess } from './types.js';

/** What a poll returns: undefined or false while the awaited state is not there yet. */
export type Poll<T> = () => T | undefined | false | Promise<T | undefined | false>;

export interface WaitOptions {
  /** Pause between two reads, in ms. */
  intervalMs?: number;
  /**
   * Keep polling when a read throws (its last error joins the timeout error). Off: a read that
   * throws fails the wait at once, so a broken check is not mistaken for "not yet".
   */
  retryErrors?: boolean;
  /** The state at the timeout, added to its error (what was seen instead). */
  detail?: () => string;
}

/**
 * Reads until the read returns a value other than undefined or false, and returns that value.
 * Bounded: after timeoutMs it throws an error naming `what` it waited for. The read is always
 * tried once, and once more after the deadline when the last pause crossed it.
 */
export async function waitFor<T>(what: string, timeoutMs: number, read: Poll<T>, options: WaitOptions = {}): Promise<T> {
  const { intervalMs = 50, retryErrors = false, detail } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (!retryErrors) throw error;
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      const seen = [detail?.(), lastError && `last error: ${lastError}`].filter(Boolean).join('; ');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? ` (${seen})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** waitFor for a check that may throw until it holds (errors retried, the last one shown): (what, check, timeoutMs = 10 s). */
export function eventually<T>(what: string, check: Poll<T>, timeoutMs = 10_000): Promise<T> {
  return waitFor(what, timeoutMs, check, { retryErrors: true });
}

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
