import { execIn } from './netns.js';
import type { HttpGetOptions, HttpGetResult } from './types.js';

/** curl arguments for one GET; http(s) proxies are used through CONNECT, like pgw's forwarder. */
export function curlArgv(opts: HttpGetOptions): string[] {
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!(timeoutMs > 0)) throw new Error(`httpGet: timeoutMs must be positive, got ${timeoutMs}`);
  const argv = ['curl', '-sS', '--max-time', (timeoutMs / 1000).toFixed(3), '-o', '-', '-w', '\n%{http_code}'];
  if (opts.sourceIp) argv.push('--interface', opts.sourceIp);
  if (opts.proxyUrl) {
    argv.push('-x', opts.proxyUrl);
    if (/^https?:/i.test(opts.proxyUrl)) argv.push('--proxytunnel');
  } else {
    argv.push('--noproxy', '*'); // ignore any *_proxy variables of the environment
  }
  argv.push('--', opts.url);
  return argv;
}

/** GET from inside opts.ns with curl; never throws for network errors, reports them instead. */
export async function httpGet(opts: HttpGetOptions): Promise<HttpGetResult> {
  const result = await execIn(opts.ns, curlArgv(opts), { reject: false, timeoutMs: (opts.timeoutMs ?? 5000) + 2000 });
  if (result.exitCode !== 0) {
    return { ok: false, exitCode: result.exitCode, error: result.stderr.trim() || `curl exited with ${result.exitCode}` };
  }
  const cut = result.stdout.lastIndexOf('\n');
  return { ok: true, status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
}
