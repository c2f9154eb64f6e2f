import type { Ipv4 } from '@pgw/domain';
import { execa } from 'execa';

const PARALLEL = 4;

/**
 * Ends the tracked connections a client opened (original source = the client), so nothing
 * keeps flowing on a DNAT binding that is no longer in force. Runs in the agent's namespace.
 */
export async function deleteClientConnections(bin: string, ips: readonly Ipv4[]): Promise<void> {
  const failures: string[] = [];
  const queue = [...ips];
  const worker = async () => {
    for (let ip = queue.shift(); ip !== undefined; ip = queue.shift()) {
      const result = await execa(bin, ['-D', '-f', 'ipv4', '-s', ip], { reject: false, timeout: 5_000 });
      // conntrack exits 1 with "0 flow entries have been deleted" when the client had none.
      if (result.exitCode !== 0 && !/0 flow entries/.test(result.stderr)) failures.push(`${ip}: ${result.stderr.trim().split('\n')[0] ?? result.exitCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, ips.length) }, worker));
  if (failures.length > 0) throw new Error(`conntrack -D failed for ${failures.length} client(s): ${failures.slice(0, 3).join('; ')}`);
}
