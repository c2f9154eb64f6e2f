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

/** How the wire saw a client's connection refused. */
export interface WireRefusal {
  /** From the client's first SYN to the RST that answered its port. */
  readonly ms: number;
  /** The SYNs from that port up to the RST: 1 when the first was answered, more when one was dropped. */
  readonly syns: number;
}

/**
 * The refusal of `client`'s first connection to `server` (`host.port`): its first SYN, the RST
 * sent to the same client port, and how many SYNs that port sent before it; null when no such pair
 * was captured.
 */
export function synToReset(lines: readonly string[], client: string, server: string): WireRefusal | null {
  const syn = new RegExp(` IP ${escape(client)}\\.(\\d+) > ${escape(server)}: Flags \\[S\\]`);
  for (const [i, line] of lines.entries()) {
    const port = syn.exec(line)?.[1];
    if (port === undefined) continue;
    const reset = new RegExp(` IP ${escape(server)} > ${escape(client)}\\.${port}: Flags \\[R`);
    const answeredAt = lines.findIndex((l, j) => j > i && reset.test(l));
    if (answeredAt === -1) return null;
    const [sent, answered] = [lineTime(line), lineTime(lines[answeredAt]!)];
    if (sent === null || answered === null) return null;
    const retransmitted = new RegExp(` IP ${escape(client)}\\.${port} > ${escape(server)}: Flags \\[S\\]`);
    const syns = lines.slice(i, answeredAt).filter((l) => retransmitted.test(l)).length;
    // A capture that spans midnight: the answer's clock has wrapped.
    return { ms: ((answered - sent + 86_400) % 86_400) * 1000, syns };
  }
  return null;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
