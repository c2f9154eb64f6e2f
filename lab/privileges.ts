/**
 * setpriv prefix that runs a command as a system user, keeping only the given capabilities, with
 * no supplementary groups but `groups` (names or gids).
 */
export function setprivArgv(user: string, caps: readonly string[] = [], groups: readonly string[] = []): string[] {
  for (const group of groups) {
    if (!/^[a-z_][a-z0-9_-]*$|^\d+$/.test(group)) throw new Error(`invalid group ${JSON.stringify(group)}`);
  }
  for (const cap of caps) {
    if (!/^[a-z_]+$/.test(cap)) throw new Error(`invalid capability name ${JSON.stringify(cap)} (expected e.g. net_admin)`);
  }
  const set = ['-all', ...caps.map((cap) => `+${cap}`)].join(',');
  // Ambient capabilities survive the exec of a non-root program; bounding limits what it could regain.
  return [
    'setpriv', '--reuid', user, '--regid', user, ...(groups.length > 0 ? ['--groups', groups.join(',')] : ['--clear-groups']),
    '--inh-caps', set, ...(caps.length > 0 ? ['--ambient-caps', set] : []), '--bounding-set', set, '--',
  ];
}
