import { addElementLines, type RenderedRuleset, SETS, type SetName } from './render-ruleset.js';

/**
 * The small transaction that turns the applied ruleset into the next one when only set
 * elements differ (a mapping added, removed, blocked or unblocked). Returns null when the
 * table definition itself changed: then only a full replacement is correct. An empty string
 * means nothing to do. Deletes come first so a changed map value is a delete plus an add.
 */
export function renderDelta(applied: RenderedRuleset, next: RenderedRuleset): string | null {
  if (applied.skeleton !== next.skeleton) return null;
  const removed: Partial<Record<SetName, string[]>> = {};
  const added: Partial<Record<SetName, string[]>> = {};
  for (const name of Object.keys(SETS) as SetName[]) {
    const before = new Set(applied.elements[name]);
    const after = new Set(next.elements[name]);
    removed[name] = applied.elements[name].filter((e) => !after.has(e)).map(keyOf(name));
    added[name] = next.elements[name].filter((e) => !before.has(e));
  }
  const lines = [...addElementLines(removed, 'delete'), ...addElementLines(added, 'add')];
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** A map element is deleted by its key alone. */
function keyOf(name: SetName): (element: string) => string {
  return name === 'client_port' ? (element) => element.split(' : ')[0]! : (element) => element;
}
