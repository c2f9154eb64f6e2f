import { type RenderedRuleset, SETS, type SetName, TABLE_NAME } from './render-ruleset.js';

/** What `nft -j list table inet pgw` shows that we check: set contents, rule counts and rules per chain. */
export interface TableListing {
  readonly elements: ReadonlyMap<string, readonly string[]>;
  readonly chains: ReadonlyMap<string, number>;
  /**
   * Per chain, its definition (type, hook, priority, policy) and its rules as the kernel lists them
   * (handles and counter values left out): compared with the same read right after our apply
   * (verifyTable's baseline), it finds a rule replaced in place, which counts alone cannot.
   */
  readonly rules: ReadonlyMap<string, string>;
}

/** Parses `nft -j list table` output. Throws on output that is not nft's JSON. */
export function parseTableListing(json: string): TableListing {
  const parsed = JSON.parse(json) as { nftables?: unknown };
  if (!Array.isArray(parsed.nftables)) throw new Error('nft -j output has no "nftables" array');
  const elements = new Map<string, string[]>();
  const chains = new Map<string, number>();
  const content = new Map<string, unknown[]>();
  for (const item of parsed.nftables as Record<string, Record<string, unknown>>[]) {
    const set = item.set ?? item.map;
    if (set && set.table === TABLE_NAME) {
      const elem = (set.elem as unknown[] | undefined) ?? [];
      elements.set(String(set.name), elem.map((e) => elementText(e, item.map !== undefined)).sort());
    } else if (item.chain && item.chain.table === TABLE_NAME) {
      const name = String(item.chain.name);
      if (!chains.has(name)) chains.set(name, 0);
      const { handle: _handle, ...definition } = item.chain;
      content.set(name, [definition, ...(content.get(name) ?? [])]);
    } else if (item.rule && item.rule.table === TABLE_NAME) {
      const name = String(item.rule.chain);
      chains.set(name, (chains.get(name) ?? 0) + 1);
      const { handle: _handle, ...rule } = item.rule;
      content.set(name, [...(content.get(name) ?? []), withoutCounterValues(rule)]);
    }
  }
  return { elements, chains, rules: new Map([...content].map(([name, parts]) => [name, JSON.stringify(parts)])) };
}

/** A rule as listed, its counters' packet and byte values left out (they move with the traffic). */
function withoutCounterValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCounterValues);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, key === 'counter' && inner !== null && typeof inner === 'object' ? {} : withoutCounterValues(inner)]));
}

/** One element in the syntax the renderer writes: `1.2.3.4`, `1.2.3.4 . 80`, `1.2.3.4 : 80`. */
function elementText(element: unknown, isMap: boolean): string {
  if (isMap && Array.isArray(element) && element.length === 2) return `${elementText(element[0], false)} : ${elementText(element[1], false)}`;
  if (typeof element === 'string' || typeof element === 'number') return String(element);
  if (element && typeof element === 'object') {
    const record = element as Record<string, unknown>;
    if (Array.isArray(record.concat)) return record.concat.map((part) => elementText(part, false)).join(' . ');
    if (record.elem && typeof record.elem === 'object') return elementText((record.elem as Record<string, unknown>).val, false);
  }
  return JSON.stringify(element);
}

/**
 * Differences between what was meant and what the kernel holds (set elements, rule counts, and with
 * `baseline`, the rules read back right after this ruleset's apply); empty means verified.
 */
export function verifyTable(expected: RenderedRuleset, listing: TableListing, baseline?: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(SETS) as SetName[]) {
    const actual = listing.elements.get(name);
    if (actual === undefined) {
      problems.push(`set ${name} is missing`);
      continue;
    }
    const want = expected.elements[name];
    if (actual.length !== want.length) problems.push(`set ${name} holds ${actual.length} elements, expected ${want.length}`);
    else if (actual.some((e, i) => e !== want[i])) problems.push(`set ${name} holds other elements than expected`);
  }
  for (const [name, count] of Object.entries(expected.chains)) {
    const actual = listing.chains.get(name);
    if (actual === undefined) problems.push(`chain ${name} is missing`);
    else if (actual !== count) problems.push(`chain ${name} has ${actual} rules, expected ${count}`);
  }
  for (const name of listing.chains.keys()) if (!(name in expected.chains)) problems.push(`unexpected chain ${name}`);
  if (problems.length > 0 || baseline === undefined) return problems;
  for (const [name, rules] of listing.rules) if (baseline.get(name) !== rules) problems.push(`chain ${name}: its rules differ from those applied`);
  return problems;
}

/** The cheap check between full read-backs: the table is there with exactly its chains. */
export function verifyChainNames(expected: RenderedRuleset, names: readonly string[]): string[] {
  if (names.length === 0) return ['table inet pgw is missing'];
  const problems: string[] = [];
  for (const name of Object.keys(expected.chains)) if (!names.includes(name)) problems.push(`chain ${name} is missing`);
  for (const name of names) if (!(name in expected.chains)) problems.push(`unexpected chain ${name}`);
  return problems;
}
