import type { TcPlan } from './render-shaping.js';

/** A qdisc as `tc -j qdisc show dev <dev>` lists it. */
export interface ListedQdisc {
  readonly kind: string;
  readonly handle: string;
  readonly root: boolean;
}

export function parseQdiscs(json: string): ListedQdisc[] {
  const listed = JSON.parse(json) as unknown;
  if (!Array.isArray(listed)) throw new Error('tc -j qdisc show: not a list');
  return listed.map((q: { kind?: unknown; handle?: unknown; root?: unknown }) => ({ kind: String(q.kind), handle: String(q.handle), root: q.root === true }));
}

/** pgw's own: the root HTB and the ingress qdisc its plans add (render-shaping.ts); nothing else on the LAN is removed. */
export function isPgwQdisc(q: ListedQdisc): boolean {
  return (q.root && q.kind === 'htb' && q.handle === '1:') || (q.kind === 'ingress' && q.handle === 'ffff:');
}

/**
 * What the plan would add on its LAN interface where another tool's qdisc is (a root qdisc that is
 * neither pgw's nor the kernel's default, handle 0:; a clsact where the ingress goes): named, so the
 * limits are refused with the reason instead of replacing it (an operator's cake or BPF filters).
 */
export function qdiscConflict(plan: TcPlan, listed: readonly ListedQdisc[]): string | null {
  const needsRoot = plan.classes.some((c) => c.dev === plan.lan);
  const needsIngress = plan.filters.has(`${plan.lan} ffff:`);
  const theirs = listed.find((q) => !isPgwQdisc(q) && ((needsRoot && q.root && q.handle !== '0:') || (needsIngress && q.handle === 'ffff:')));
  if (theirs === undefined) return null;
  return `${plan.lan} has a ${theirs.root ? 'root' : 'ingress'} qdisc pgw did not add (${theirs.kind} ${theirs.handle}): the rate limits need it; remove it (tc qdisc del dev ${plan.lan} ${theirs.root ? 'root' : 'ingress'}) or the limits`;
}
