import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execIn, nsArgv } from './netns.js';
import type { Capture, CaptureOptions } from './types.js';

const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Starts tcpdump on iface inside ns, writing every packet to a pcap file at once (-U).
 * Resolves only once tcpdump reports that it is listening, so nothing sent afterwards is missed.
 */
export async function startCapture(opts: CaptureOptions, dir: string, seq: number, timeoutMs = 5000): Promise<Capture & { pid: number }> {
  if (!IFACE.test(opts.iface)) throw new Error(`capture: invalid interface name ${JSON.stringify(opts.iface)}`);
  const file = join(dir, `capture-${seq}-${opts.ns}-${opts.iface}.pcap`);
  // --immediate-mode: without it packets wait in the kernel ring buffer and are lost when tcpdump
  // is stopped within the buffer timeout. -Z root: write the file as root (not user tcpdump).
  const argv = nsArgv(opts.ns, ['tcpdump', '-n', '-U', '--immediate-mode', '-Z', 'root', '-i', opts.iface, '-w', file, ...(opts.filter ? [opts.filter] : [])]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump on ${opts.ns}/${opts.iface} did not start listening within ${timeoutMs} ms: ${stderr.trim()}`));
    }, timeoutMs);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start tcpdump: ${err.message}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${opts.ns}/${opts.iface} exited (code ${code}): ${stderr.trim()}`));
    });
  });
  let lines: Promise<string[]> | undefined;
  return {
    file,
    pid: child.pid!,
    stop() {
      lines ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT'); // flushes and closes the file
        await exited;
        const decoded = await execIn(undefined, ['tcpdump', '-n', '-r', file], { reject: false });
        if (decoded.exitCode !== 0) throw new Error(`tcpdump -r ${file} failed: ${decoded.stderr.trim()}`);
        return decoded.stdout.split('\n').filter((line) => line.length > 0);
      })();
      return lines;
    },
  };
}
