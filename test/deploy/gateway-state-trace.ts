/**
 * What the gateway's kernel held while a machine booted, for the reboot test to print beside any
 * client packet it saw on eth0: the nft tables and the LAN interface's IPv4 forwarding switch (the
 * two layers that each stop forwarding alone), sampled every 20 ms in the gateway's
 * namespace and kept only where they changed, with the wall-clock time tcpdump prints. A leak at
 * boot once failed CI with nothing to tell which layer was missing then.
 */
import { spawn } from 'node:child_process';
import { nsArgv } from '../../lab/index.js';

export interface GatewayStateTrace {
  /** Stops sampling; the lines `HH:MM:SS.nnnnnnnnn <tables> fwd=<0|1>`, one per change. */
  stop(): Promise<string[]>;
}

/** Samples about maxSeconds long (50 samples a second at most; bounded even when stop() is never called). */
export function traceGatewayState(ns: string, lanInterface: string, maxSeconds: number): GatewayStateTrace {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(lanInterface)) throw new Error(`traceGatewayState: invalid interface ${JSON.stringify(lanInterface)}`);
  // Two processes a sample (nft, sleep) every 20 ms, the clock read only on a change: the boot it
  // watches runs on the same 2 cores. (read's status is ignored: a sysctl file gives its value at
  // offset 0 only, so the shell's byte-wise read never sees the newline.) The tables are read before
  // the switch: the loader switches forwarding off before it loads the table, so a sample that lists
  // the table with forwarding on means that order was broken (the reboot check fails on it).
  const script = `i=0; last=
while [ $i -lt ${Math.ceil(maxSeconds * 50)} ]; do
  tables=$(nft list tables 2>&1)
  fwd=; read -r fwd < /proc/sys/net/ipv4/conf/${lanInterface}/forwarding; fwd=\${fwd:-none}
  now="$tables fwd=$fwd"
  [ "$now" = "$last" ] || echo "$(date +%H:%M:%S.%N) $(echo $now)"
  last=$now; i=$((i + 1)); sleep 0.02
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
