import { addElementLines, type RenderedRuleset, SETS, type SetName } from './render-ruleset.js';

type Elements = Partial<Record<SetName, string[]>>;

/** Elements in `applied` and not in `next` (removed), and the reverse (added); null when the skeletons differ. */
function elementChanges(applied: RenderedRuleset, next: RenderedRuleset): { removed: Elements; added: Elements } | null {
  if (applied.skeleton !== next.skeleton) return null;
  const removed: Elements = {};
  const added: Elements = {};
  for (const name of Object.keys(SETS) as SetName[]) {
    const before = applied.elements[name];
    const after = next.elements[name];
    if (before === after) continue;
    [removed[name], added[name]] = sortedDifference(before, after);
  }
  return { removed, added };
}

/**
 * One merge pass over two sorted, duplicate-free lists (renderRuleset's order, the default sort's):
 * the values only in `a`, and those only in `b`. No Set of thousands of strings per run.
 */
function sortedDifference(a: readonly string[], b: readonly string[]): [string[], string[]] {
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (a[i]! < b[j]!) onlyA.push(a[i++]!);
    else onlyB.push(b[j++]!);
  }
  while (i < a.length) onlyA.push(a[i++]!);
  while (j < b.length) onlyB.push(b[j++]!);
  return [onlyA, onlyB];
}

/**
 * The small transaction that turns the applied ruleset into the next one when only set
 * elements differ (a mapping added, removed, blocked or unblocked). Returns null when the
 * table definition itself changed: then only a full replacement is correct. An empty string
 * means nothing to do. Deletes come first so a changed map value is a delete plus a create.
 *
 * Strict, so the transaction is its own check: `delete` fails (ENOENT) for an element (map: key)
 * that is not there, `create` (EEXIST) for one that already is, and the kernel then refuses the
 * whole transaction. It commits only when the table held exactly what the agent applied last for
 * these elements, and then holds exactly the change: no read-back process after it. Later foreign
 * edits are the nft monitor's (self-heal) and the periodic full read-back's.
 */
export function renderDelta(applied: RenderedRuleset, next: RenderedRuleset): string | null {
  const changes = elementChanges(applied, next);
  if (changes === null) return null;
  const removedKeys = Object.fromEntries(Object.entries(changes.removed).map(([name, values]) => [name, values.map(keyOf(name as SetName))]));
  const lines = [...addElementLines(removedKeys, 'delete'), ...addElementLines(changes.added, 'create')];
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** A map element is deleted by its key alone. */
function keyOf(name: SetName): (element: string) => string {
  return name === 'client_port' ? (element) => element.split(' : ')[0]! : (element) => element;
}
