/**
 * The forwarder's destination-policy refusals (status.forwarder.refused) in one line, largest
 * first: "5 refused: 3 gateway, 2 link-local". null when there were none.
 */
export function describeRefusals(refused: Record<string, number> | undefined): string | null {
  const entries = Object.entries(refused ?? {})
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (entries.length === 0) return null;
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  return `${total} refused: ${entries.map(([reason, count]) => `${count} ${reasonText(reason)}`).join(', ')}`;
}

/** destination_link_local -> "link-local"; proxy_lan -> "proxy on the LAN". */
function reasonText(reason: string): string {
  const [kind, ...rest] = reason.split('_');
  const what = rest.join('-').replace(/^lan$/, 'LAN');
  return kind === 'proxy' ? `proxy on ${what === 'LAN' ? 'the LAN' : what}` : what;
}
