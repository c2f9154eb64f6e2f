/**
 * What one demo client's traffic gets, in words for its `pgw demo: client ...` line (issue 15):
 * `(tproxy: tcp, udp, dns via proxy)` for a client whose proxy carries UDP, `(tproxy: tcp; udp
 * dropped: http proxy)` for one whose UDP the forwarder drops (`tcp, dns via proxy; udp dropped:
 * ...` where the forwarder answers its DNS over TCP through the proxy), `(dnat: tcp; udp dropped)`
 * in DNAT mode. Pure: the facts come from the api (settings, the proxy's learned UDP support, the
 * mapping's udpDropped) and from real exchanges made from the client (demo.ts), never from assumptions.
 */
export interface ClientFacts {
  readonly interceptMode: 'dnat' | 'tproxy';
  readonly dnsMode: 'drop' | 'proxy';
  /** The exit address a real TCP request from the client saw; null: it got no answer. */
  readonly exitIp: string | null;
  /** Its proxy's UDP support as the api reports it. */
  readonly udpSupport: 'supported' | 'unsupported' | null;
  /** The mapping's udpDropped as the api reports it (the forwarder's reason), or null. */
  readonly udpDropped: { readonly reason: string } | null;
  /** A UDP round trip from the client to the lab's UDP echo service: answered or not. */
  readonly udpEcho: 'reply' | 'none';
  /** The TXT answer of `whoami.pgw.test` asked over UDP from the client (the address the query reached the DNS server from), or null: no answer. */
  readonly whoami: string | null;
}

/** The forwarder's reasons in the demo's short words; another reason as sent. */
const DROPPED: Readonly<Record<string, string>> = {
  proxy_without_udp: 'http proxy',
  associate_failed: 'proxy refused udp',
};

export function clientCarries(f: ClientFacts): string {
  if (f.interceptMode === 'dnat') return '(dnat: tcp; udp dropped)';
  const carried: string[] = [];
  const problems: string[] = [];
  if (f.exitIp !== null) carried.push('tcp');
  else problems.push('tcp: no answer');
  if (f.udpEcho === 'reply') carried.push('udp');
  else if (f.udpDropped !== null) problems.push(`udp dropped: ${DROPPED[f.udpDropped.reason] ?? f.udpDropped.reason.replace(/_/g, ' ')}`);
  else problems.push(f.udpSupport === null ? 'udp support not learned yet' : 'udp: no answer');
  // Through the proxy: the DNS server saw the query come from the proxy's exit address.
  if (f.whoami !== null && f.whoami === f.exitIp) carried.push(f.dnsMode === 'proxy' ? 'dns via proxy' : 'dns');
  else if (f.whoami !== null) problems.push(`dns answered from ${f.whoami}, not the proxy's exit`);
  else if (f.udpEcho === 'reply') problems.push(f.dnsMode === 'drop' ? 'dns dropped (dnsMode drop)' : 'dns: no answer');
  return `(tproxy: ${[carried.join(', '), ...problems].filter((part) => part !== '').join('; ')})`;
}
