import type { GatewayPolicy } from '@pgw/domain';
import { execa } from 'execa';
import { nftInterface, nftIpv4, nftMac } from '../ruleset/nft-values.js';

/**
 * Permanent neighbour (ARP) entries for MAC-pinned clients (docs/SECURITY.md flow 19). The nft
 * pin drops another host's packets from a pinned IP; this entry keeps the gateway's replies going
 * to the pinned MAC, so a host that answers ARP for the client's IP cannot divert them (nor cut
 * the real client off). Our entries carry their own routing protocol number, so the operator's
 * static entries are never touched.
 */
export const PGW_NEIGH_PROTOCOL = 241;

export interface NeighbourEntry {
  readonly ip: string;
  readonly dev: string;
  readonly mac: string;
}

/** The permanent entries of `ip -j neigh show nud permanent`: pgw's (set earlier) and the operator's. */
export function parseNeighbours(json: string): { readonly ours: NeighbourEntry[]; readonly theirs: NeighbourEntry[] } {
  const rows = JSON.parse(json || '[]') as { dst?: string; dev?: string; lladdr?: string; protocol?: string | number }[];
  const ours: NeighbourEntry[] = [];
  const theirs: NeighbourEntry[] = [];
  for (const r of rows) {
    if (!r.dst || !r.dev) continue;
    if (String(r.protocol) === String(PGW_NEIGH_PROTOCOL)) {
      if (r.lladdr) ours.push({ ip: r.dst, dev: r.dev, mac: r.lladdr });
    } else {
      theirs.push({ ip: r.dst, dev: r.dev, mac: r.lladdr ?? '' });
    }
  }
  return { ours, theirs };
}

/**
 * `ip -batch` lines that turn our current entries into the policy's pins (deletes first). An
 * address the operator holds a permanent entry for (`theirs`) gets none of ours: `neigh replace`
 * would take theirs over, and the pin's removal would delete it. Its nft pin holds all the same.
 */
export function neighbourCommands(current: readonly NeighbourEntry[], policy: GatewayPolicy, theirs: readonly NeighbourEntry[] = []): string[] {
  // Rendered from the same validated values as the ruleset; the device name unquoted for ip.
  const dev = nftInterface(policy.lan.interface).slice(1, -1);
  const operators = new Set(theirs.map((e) => `${e.ip}|${e.dev}`));
  const desired = policy.clients
    .filter((c) => c.mac)
    .map((c) => ({ ip: nftIpv4(c.ip), dev, mac: nftMac(c.mac!) }))
    .filter((e) => !operators.has(`${e.ip}|${e.dev}`));
  const key = (e: NeighbourEntry) => `${e.ip}|${e.dev}|${e.mac}`;
  const want = new Set(desired.map(key));
  const have = new Set(current.map(key));
  return [
    ...current.filter((e) => !want.has(key(e))).map((e) => `neigh del ${e.ip} dev ${e.dev}`),
    ...desired.filter((e) => !have.has(key(e))).map((e) => `neigh replace ${e.ip} lladdr ${e.mac} dev ${e.dev} nud permanent protocol ${PGW_NEIGH_PROTOCOL}`),
  ];
}

/**
 * Keeps the pins' neighbour entries in force. The kernel is asked at every LAN assertion while any
 * client is pinned: another tool's `ip neigh del`, or the LAN link going down and up (which flushes
 * permanent entries), removes them without a word, and only a listing finds that out. With no pin
 * now nor at the last sync, nothing of ours can be there and nothing is run.
 */
export class LanNeighbours {
  /** The last sync had no pin, so it left none of our entries (its listing removed any). */
  private clean = false;

  constructor(private readonly ipBin: string) {}

  async sync(policy: GatewayPolicy): Promise<void> {
    const pinned = policy.clients.some((c) => c.mac);
    if (!pinned && this.clean) return;
    const listed = await execa(this.ipBin, ['-j', 'neigh', 'show', 'nud', 'permanent'], { timeout: 5_000 });
    const { ours, theirs } = parseNeighbours(listed.stdout);
    const commands = neighbourCommands(ours, policy, theirs);
    if (commands.length > 0) {
      const result = await execa(this.ipBin, ['-batch', '-'], { input: commands.join('\n') + '\n', reject: false, timeout: 5_000 });
      if (result.exitCode !== 0) throw new Error(`ip neigh (MAC pins) failed: ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
    }
    this.clean = !pinned;
  }
}
