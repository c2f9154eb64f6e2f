/**
 * What the gateway's kernel held while a machine booted, for the reboot test to print beside any
 * client packet it saw on eth0: the nft tables and the LAN interface's IPv4 forwarding switch (the
 * two layers that each stop forwarding alone), sampled every few milliseconds in the gateway's
 * namespace and kept only where they changed, with the wall-clock time tcpdump prints. A leak at
 * boot once failed CI with nothing to tell which layer was missing then.
 */
import { spawn } from 'node:child_process';
import { nsArgv } from '../../lab/index.js';

export interface GatewayStateTrace {
  /** Stops sampling; the lines `HH:MM:SS.nnnnnnnnn <tables> fwd=<0|1>`, one per change. */
  stop(): Promise<string[]>;
}

/** Samples for at most maxSeconds (bounded even when stop() is never called). */
export function traceGatewayState(ns: string, lanInterface: string, maxSeconds: number): GatewayStateTrace {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(lanInterface)) throw new Error(`traceGatewayState: invalid interface ${JSON.stringify(lanInterface)}`);
  const script = `end=$(($(date +%s) + ${Math.ceil(maxSeconds)})); last=
while [ "$(date +%s)" -lt "$end" ]; do
  now="$(nft list tables 2>&1 | tr '\\n' ' ')fwd=$(cat /proc/sys/net/ipv4/conf/${lanInterface}/forwarding 2>&1)"
  [ "$now" = "$last" ] || echo "$(date +%H:%M:%S.%N) $now"
  last=$now; sleep 0.005
done`;
  const argv = nsArgv(ns, ['sh', '-c', script]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => { out += chunk; });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      return out.split('\n').filter((line) => line.length > 0);
    },
  };
}
