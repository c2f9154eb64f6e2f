/**
 * Reading `tcpdump -n -r` output (lab/capture.ts decodes captures so): the kernel's timestamps of
 * packets, which a prober's own clock on a loaded machine is not (a 2-core CI machine at load 20
 * delayed a refusal's 'error' event past 200 ms while the RST had come at once).
 */

/** Seconds since midnight of a line's leading `HH:MM:SS.ffffff`, or null where it has none. */
export function lineTime(line: string): number | null {
  const m = /^(\d{2}):(\d{2}):(\d{2}\.\d+) /.exec(line);
  return m === null ? null : Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

/**
 * Milliseconds on the wire from `client`'s first SYN to `server` (`host.port`) to the RST that
 * answered it (to the same client port), or null when no such pair was captured.
 */
export function synToResetMs(lines: readonly string[], client: string, server: string): number | null {
  const syn = new RegExp(` IP ${escape(client)}\\.(\\d+) > ${escape(server)}: Flags \\[S\\]`);
  for (const [i, line] of lines.entries()) {
    const port = syn.exec(line)?.[1];
    if (port === undefined) continue;
    const reset = new RegExp(` IP ${escape(server)} > ${escape(client)}\\.${port}: Flags \\[R`);
    const answer = lines.slice(i + 1).find((l) => reset.test(l));
    const [sent, answered] = [lineTime(line), answer === undefined ? null : lineTime(answer)];
    if (sent === null || answered === null) return null;
    // A capture that spans midnight: the answer's clock has wrapped.
    return ((answered - sent + 86_400) % 86_400) * 1000;
  }
  return null;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
