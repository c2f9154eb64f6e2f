import type { InterfaceName } from '@pgw/domain';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RT_TABLE_LOCAL, type RoutingRule } from '../netlink/rtnetlink.js';

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
 * The default `from all lookup local` rule (pref 0) would match first, so it moves after ours,
 * keeping the kernel's protocol: a network manager that deletes every rule it did not make but
 * the kernel's (systemd-networkd's ManageForeignRoutingPolicyRules, on by default) then leaves it,
 * where a pgw-protocol local rule went and left the box without local delivery (its loopback and
 * its own addresses) until an agent put it back: never, while the agent is stopped.
 * The same rules are set at boot by guard/load-guard.sh.
 */
export const LOCAL_MARK = 0x0100_0000;
/** Routing protocol number of our rules: the operator's rules are never touched (lan-neighbours.ts uses 241). */
export const PGW_RULE_PROTOCOL = 242;
export const PREF_MARKED = 100;
export const PREF_REFUSE = 101;
export const PREF_LOCAL = 102;
/** RTPROT_KERNEL: what the moved local rule is made with, as the kernel's own pref 0 rule was. */
const RTPROT_KERNEL = 2;

const LOOPBACK_NET = '127.0.0.0/8';
const hex = (n: number) => `0x${n.toString(16)}`;

/** A wanted rule: as the kernel will list it, and the `ip rule add` arguments that make it. */
interface WantedRule {
  readonly rule: RoutingRule;
  readonly add: string;
}

function wanted(lan: InterfaceName): WantedRule[] {
  const base = { iif: null, dst: null, fwmark: null, fwmask: null, action: 'lookup', table: RT_TABLE_LOCAL, protocol: PGW_RULE_PROTOCOL } as const;
  const mark = hex(LOCAL_MARK);
  return [
    { rule: { ...base, priority: PREF_MARKED, iif: lan, dst: LOOPBACK_NET, fwmark: LOCAL_MARK, fwmask: LOCAL_MARK }, add: `pref ${PREF_MARKED} iif ${lan} to ${LOOPBACK_NET} fwmark ${mark}/${mark} lookup local protocol ${PGW_RULE_PROTOCOL}` },
    { rule: { ...base, priority: PREF_REFUSE, iif: lan, dst: LOOPBACK_NET, action: 'blackhole', table: 0 }, add: `pref ${PREF_REFUSE} iif ${lan} to ${LOOPBACK_NET} blackhole protocol ${PGW_RULE_PROTOCOL}` },
    { rule: { ...base, priority: PREF_LOCAL, protocol: RTPROT_KERNEL }, add: `pref ${PREF_LOCAL} lookup local protocol kernel` },
  ];
}

/** Everything a rule matches on and does: two rules with the same key are the same rule. */
export function ruleKey(r: RoutingRule): string {
  return [r.priority, r.iif ?? '', r.dst ?? '', r.fwmark ?? '', r.fwmask ?? '', r.action, r.table, r.protocol].join('|');
}

/** What the kernel matches a delete's action on: a table looked up, or a terminal action's keyword. */
function actionArgs(r: RoutingRule): string {
  if (r.action === 'lookup') return ` lookup ${r.table}`;
  if (r.action === 'blackhole' || r.action === 'unreachable' || r.action === 'prohibit' || r.action === 'nop') return ` ${r.action}`;
  return '';
}

/**
 * `ip rule del` arguments that remove exactly this rule of ours: the kernel deletes the first rule
 * that matches every field given, so the action is named too (else a wanted rule that differs
 * from this one only by its action could go instead).
 */
export function deleteRule(r: RoutingRule): string {
  return `rule del pref ${r.priority}${r.iif ? ` iif ${r.iif}` : ''}${r.dst ? ` to ${r.dst}` : ''}${r.fwmark !== null ? ` fwmark ${hex(r.fwmark)}/${hex(r.fwmask ?? 0xffffffff)}` : ''}${actionArgs(r)} protocol ${r.protocol}`;
}

/** The kernel's default local rule (or an equal one put back by hand): `0: from all lookup local`. */
const defaultLocal = (r: RoutingRule) => r.priority === 0 && r.action === 'lookup' && r.table === RT_TABLE_LOCAL && !r.dst && !r.iif && r.fwmark === null;

/**
 * `ip` command lines that put our rules for `lan` in force: adds first, then our rules for another
 * interface (a previous LAN), then the pref 0 local rule. Local delivery never lacks a rule: the
 * pref 102 local rule exists before pref 0 goes. Empty when all is in place.
 */
export function routingCommands(current: readonly RoutingRule[], lan: InterfaceName): string[] {
  const want = wanted(lan);
  // Only rules of our protocol are ever deleted; the moved local rule has the kernel's (wanted()).
  const ours = current.filter((r) => r.protocol === PGW_RULE_PROTOCOL);
  const have = new Set(current.map(ruleKey));
  const wantKeys = new Set(want.map((w) => ruleKey(w.rule)));
  return [
    ...want.filter((w) => !have.has(ruleKey(w.rule))).map((w) => `rule add ${w.add}`),
    ...ours.filter((r) => !wantKeys.has(ruleKey(r))).map(deleteRule),
    ...current.filter(defaultLocal).map(() => 'rule del pref 0 table local'),
  ];
}

/**
 * Runs `ip` command lines in order, one process each (-batch reads stdin, which execFile does not
 * feed); the first failure throws, naming the command and `purpose`. Only on a change: the
 * listings they follow are read over netlink.
 */
export async function runIpCommands(ipBin: string, commands: readonly string[], purpose: string): Promise<void> {
  for (const command of commands) {
    try {
      await run(ipBin, command.split(' '), { timeout: 5_000 });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
      throw new Error(`ip ${command} (${purpose}) failed: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
    }
  }
}
