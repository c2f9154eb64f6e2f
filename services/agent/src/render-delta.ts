import { addElementLines, type RenderedRuleset, SETS, type SetName } from './render-ruleset.js';

type Elements = Partial<Record<SetName, string[]>>;

/** Elements in `applied` and not in `next` (removed), and the reverse (added); null when the skeletons differ. */
function elementChanges(applied: RenderedRuleset, next: RenderedRuleset): { removed: Elements; added: Elements } | null {
  if (applied.skeleton !== next.skeleton) return null;
  const removed: Elements = {};
  const added: Elements = {};
  for (const name of Object.keys(SETS) as SetName[]) {
    const before = new Set(applied.elements[name]);
    const after = new Set(next.elements[name]);
    removed[name] = applied.elements[name].filter((e) => !after.has(e));
    added[name] = next.elements[name].filter((e) => !before.has(e));
  }
  return { removed, added };
}

/**
 * The small transaction that turns the applied ruleset into the next one when only set
 * elements differ (a mapping added, removed, blocked or unblocked). Returns null when the
 * table definition itself changed: then only a full replacement is correct. An empty string
 * means nothing to do. Deletes come first so a changed map value is a delete plus an add.
 */
export function renderDelta(applied: RenderedRuleset, next: RenderedRuleset): string | null {
  const changes = elementChanges(applied, next);
  if (changes === null) return null;
  const removedKeys = Object.fromEntries(Object.entries(changes.removed).map(([name, values]) => [name, values.map(keyOf(name as SetName))]));
  const lines = [...addElementLines(removedKeys, 'delete'), ...addElementLines(changes.added, 'add')];
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/**
 * The read-back of a delta, for `nft -c -f -` (the kernel runs the transaction, then discards it):
 * `create` of every removed element fails (EEXIST) if it is still there, `delete` of every added
 * one fails (ENOENT) if it is missing. So it passes only when the kernel holds exactly what the
 * delta changed, at the cost of the change, not of the table. A map key whose value changed is
 * checked by its presence; the value itself through client_ports, which holds the same pairs.
 * Null when the skeletons differ, empty when nothing changed.
 */
export function renderDeltaCheck(applied: RenderedRuleset, next: RenderedRuleset): string | null {
  const changes = elementChanges(applied, next);
  if (changes === null) return null;
  const absent: Elements = {};
  const present: Elements = {};
  for (const name of Object.keys(SETS) as SetName[]) {
    const key = keyOf(name);
    const addedKeys = new Set((changes.added[name] ?? []).map(key));
    absent[name] = (changes.removed[name] ?? []).filter((e) => !addedKeys.has(key(e)));
    present[name] = (changes.added[name] ?? []).map(key);
  }
  const lines = [...addElementLines(absent, 'create'), ...addElementLines(present, 'delete')];
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** A map element is deleted by its key alone. */
function keyOf(name: SetName): (element: string) => string {
  return name === 'client_port' ? (element) => element.split(' : ')[0]! : (element) => element;
}
