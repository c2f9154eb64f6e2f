/** setpriv prefix that runs a command as a system user, keeping only the given capabilities. */
export function setprivArgv(user: string, caps: readonly string[] = []): string[] {
  for (const cap of caps) {
    if (!/^[a-z_]+$/.test(cap)) throw new Error(`invalid capability name ${JSON.stringify(cap)} (expected e.g. net_admin)`);
  }
  const set = ['-all', ...caps.map((cap) => `+${cap}`)].join(',');
  // Ambient capabilities survive the exec of a non-root program; bounding limits what it could regain.
  return [
    'setpriv', '--reuid', user, '--regid', user, '--clear-groups',
    '--inh-caps', set, ...(caps.length > 0 ? ['--ambient-caps', set] : []), '--bounding-set', set, '--',
  ];
}
