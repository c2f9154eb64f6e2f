import { execIn } from './netns.js';

/**
 * Waits until ip:port accepts a TCP connection, probing from inside `ns`
 * (one bash process polls /dev/tcp, so the probe sees the namespace's routes).
 */
export async function waitTcpPort(ns: string | undefined, ip: string, port: number, timeoutMs = 5000): Promise<void> {
  const tries = Math.max(1, Math.ceil(timeoutMs / 50));
  const script =
    'for i in $(seq "$2"); do ' +
    '(exec 3<>"/dev/tcp/$0/$1") 2>/dev/null && exit 0; sleep 0.05; ' +
    'done; exit 1';
  const argv = ['timeout', String(Math.ceil(timeoutMs / 1000) + 1), 'bash', '-c', script, ip, String(port), String(tries)];
  const result = await execIn(ns, argv, { reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`${ip}:${port} did not accept TCP connections within ${timeoutMs} ms${ns ? ` (ns ${ns})` : ''}`);
  }
}
