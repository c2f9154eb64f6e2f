import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Ipv4, ipv4Schema } from '@pgw/domain';
import { execa } from 'execa';

/**
 * Ends the tracked connections the clients opened (original source = the client), so nothing
 * keeps flowing on a DNAT binding that is no longer in force. One `conntrack -R <file>` batch for
 * all of them: a spawn per client took about a second for 16 clients on a busy 2-core gateway.
 * A file, because conntrack opens "/dev/stdin" by name, which fails on the socket Node gives it.
 * Runs in the agent's namespace; a client without entries is not an error.
 */
export async function deleteClientConnections(bin: string, ips: readonly Ipv4[]): Promise<void> {
  if (ips.length === 0) return;
  // Re-checked: this text is read by a root process.
  const batch = ips.map((ip) => `-D -f ipv4 -s ${ipv4Schema.parse(ip)}`).join('\n') + '\n';
  const dir = await mkdtemp(join(tmpdir(), 'pgw-agent-conntrack-'));
  let result;
  try {
    const file = join(dir, 'batch');
    await writeFile(file, batch, { mode: 0o600 });
    result = await execa(bin, ['-R', file], { reject: false, timeout: 5_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (result.exitCode !== 0) {
    throw new Error(`conntrack -R (delete ${ips.length} client(s)) failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  }
}
