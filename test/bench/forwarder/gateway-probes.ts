/**
 * Small probes of the forwarder from inside the gateway namespace: its metrics, its open file
 * descriptors, and a TCP connect from the gateway itself (a peer that is not any mapping's client).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { execIn } from '../../../lab/index.js';

export async function scrapeMetrics(ns: string, port: number): Promise<string> {
  const result = await execIn(ns, ['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${port}/metrics`], { reject: false });
  if (result.exitCode !== 0) throw new Error(`cannot scrape 127.0.0.1:${port}/metrics in ${ns}: ${result.stderr}`);
  return result.stdout;
}

export interface FdCount {
  total: number;
  /** Descriptors that are TCP sockets (listeners and connections). */
  tcp: number;
  /**
   * TCP sockets that are not listening: what a relay leak grows. Listeners are apart because
   * mappings come and go with their proxies' health while a test runs.
   */
  tcpConnections: number;
}

/** Counts a process's descriptors; TCP ones are matched against its namespace's /proc/<pid>/net/tcp{,6}. */
export function countFds(pid: number): FdCount {
  const TCP_LISTEN = '0A';
  const tcpInodes = new Map<string, boolean>(); // inode -> listening
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      tcpInodes.set(fields[9]!, fields[3] === TCP_LISTEN);
    }
  }
  let total = 0;
  let tcp = 0;
  let tcpConnections = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    total++;
    const m = /^socket:\[(\d+)\]$/.exec(target);
    const listening = m ? tcpInodes.get(m[1]!) : undefined;
    if (listening === undefined) continue;
    tcp++;
    if (!listening) tcpConnections++;
  }
  return { total, tcp, tcpConnections };
}


const CONNECT_SCRIPT = `
const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1');
const t = setTimeout(() => { console.log('open'); process.exit(0); }, Number(process.argv[2]));
s.on('connect', () => s.write('hello'));
s.on('data', () => { console.log('data'); process.exit(0); });
s.on('error', (e) => { clearTimeout(t); console.log(e.code); });
s.on('close', () => { clearTimeout(t); console.log('closed'); });
`;

/**
 * Connects once from the gateway itself to 127.0.0.1:port. Reports what happened first:
 * ECONNRESET, ECONNREFUSED, 'closed', 'data' or 'open' (still open after waitMs).
 */
export async function connectFromGateway(ns: string, port: number, waitMs = 1000): Promise<string> {
  const result = await execIn(ns, ['node', '-e', CONNECT_SCRIPT, String(port), String(waitMs)], { timeoutMs: waitMs + 5_000 });
  return result.stdout.trim().split('\n')[0] ?? '';
}
