import type { InterfaceName } from '@pgw/domain';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// node:child_process, not execa: the boot fast path (boot.ts) loads this module too.
const run = promisify(execFile);

/**
 * Policy routing that closes the route_localnet hole with no nft table (docs/SECURITY.md "Layers",
 * docs/ARCHITECTURE.md). route_localnet lets packets from the LAN addressed to 127.0.0.0/8 be
 * delivered locally; the only legitimate ones are DNAT-ed by table inet pgw, whose chain lan_mark
 * (render-ruleset.ts) sets LOCAL_MARK on every packet of such a flow. These rules deliver a LAN
 * packet to 127.0.0.0/8 only when it carries the mark, and blackhole the rest. The mark cannot
 * come from the wire: with every table flushed (`nft flush ruleset`, Debian's nftables.conf) no
 * packet has it, so the kernel refuses LAN -> 127/8 by routing even while route_localnet=1.
 * The default `from all lookup local` rule (pref 0) would match first, so it moves after ours.
 * The same rules are set at boot by guard/load-guard.sh.
 */
export const LOCAL_MARK = 0x0100_0000;
/** Routing protocol number of our rules: the operator's rules are never touched (lan-neighbours.ts uses 241). */
export const PGW_RULE_PROTOCOL = 242;
export const PREF_MARKED = 100;
export const PREF_REFUSE = 101;
export const PREF_LOCAL = 102;

/** A row of `ip -j rule show`. */
export interface RuleRow {
  readonly priority: number;
  readonly src?: string;
  readonly dst?: string;
  readonly dstlen?: number;
  readonly iif?: string;
  readonly fwmark?: string;
  readonly fwmask?: string;
  readonly table?: string;
  readonly action?: string;
  readonly protocol?: string | number;
}

const mark = `0x${LOCAL_MARK.toString(16)}`;

/** Our rules for `lan`, as `ip` arguments after `rule add`. */
function wanted(lan: InterfaceName): { key: string; spec: string }[] {
  return [
    { key: `${PREF_MARKED}|${lan}|${mark}|local`, spec: `pref ${PREF_MARKED} iif ${lan} to 127.0.0.0/8 fwmark ${mark}/${mark} lookup local protocol ${PGW_RULE_PROTOCOL}` },
    { key: `${PREF_REFUSE}|${lan}||blackhole`, spec: `pref ${PREF_REFUSE} iif ${lan} to 127.0.0.0/8 blackhole protocol ${PGW_RULE_PROTOCOL}` },
    { key: `${PREF_LOCAL}|||local`, spec: `pref ${PREF_LOCAL} lookup local protocol ${PGW_RULE_PROTOCOL}` },
  ];
}

function keyOf(r: RuleRow): string {
  return `${r.priority}|${r.iif ?? ''}|${r.fwmark ?? ''}|${r.action ?? r.table ?? ''}`;
}

const ours = (r: RuleRow) => String(r.protocol) === String(PGW_RULE_PROTOCOL);
/** The kernel's default local rule (or an equal one put back by hand): `0: from all lookup local`. */
const defaultLocal = (r: RuleRow) => r.priority === 0 && r.table === 'local' && !r.dst && !r.iif && !r.fwmark;

/**
 * `ip` command lines that put our rules for `lan` in force: adds first, then our rules for another
 * interface (a previous LAN), then the pref 0 local rule. Local delivery never lacks a rule: the
 * pref 102 local rule exists before pref 0 goes. Empty when all is in place.
 */
export function routingCommands(current: readonly RuleRow[], lan: InterfaceName): string[] {
  const want = wanted(lan);
  const have = new Set(current.filter(ours).map(keyOf));
  const wantKeys = new Set(want.map((w) => w.key));
  return [
    ...want.filter((w) => !have.has(w.key)).map((w) => `rule add ${w.spec}`),
    ...current
      .filter((r) => ours(r) && !wantKeys.has(keyOf(r)))
      .map((r) => `rule del pref ${r.priority}${r.iif ? ` iif ${r.iif}` : ''}${r.fwmark ? ` fwmark ${r.fwmark}/${r.fwmask ?? r.fwmark}` : ''} protocol ${PGW_RULE_PROTOCOL}`),
    ...current.filter(defaultLocal).map(() => 'rule del pref 0 table local'),
  ];
}

/** Asserts the rules in the agent's network namespace, on every reconcile (like the LAN sysctls). */
export class LanRouting {
  constructor(private readonly ipBin: string) {}

  async ensure(lan: InterfaceName): Promise<void> {
    const listed = await run(this.ipBin, ['-j', 'rule', 'show'], { timeout: 5_000 });
    const commands = routingCommands(JSON.parse(listed.stdout || '[]') as RuleRow[], lan);
    if (commands.length === 0) return;
    // One ip per command (-batch reads stdin, which execFile does not feed), in order.
    for (const command of commands) {
      try {
        await run(this.ipBin, command.split(' '), { timeout: 5_000 });
      } catch (error) {
        const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
        throw new Error(`ip ${command} (route_localnet closure) failed: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
  }
}
