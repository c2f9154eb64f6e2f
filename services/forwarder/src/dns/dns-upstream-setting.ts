import { DNS_PORT, type DnsUpstream, parseDnsUpstream, type Settings } from '@pgw/domain';

/**
 * settings.dnsUpstream in force in this forwarder (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY
 * mode"): with dnsMode proxy and an upstream set, a client's DNS (UDP and TCP to port 53, to any
 * address) is sent through its proxy to that resolver instead of the one it asked, so a gateway
 * can keep its clients on one known resolver whatever they are configured with. Set on every
 * desired-state load; read by the UDP relay and the TCP listeners.
 */
export class DnsUpstreamSetting {
  private text: string | null = null;
  private upstream: DnsUpstream | null = null;
  private proxyMode = false;

  configure(settings: Pick<Settings, 'dnsMode' | 'dnsUpstream'>): void {
    this.proxyMode = settings.dnsMode === 'proxy';
    const text = settings.dnsMode === 'proxy' ? (settings.dnsUpstream ?? null) : null;
    if (text === this.text) return;
    this.text = text;
    // The settings schema checked it when the desired state was read.
    this.upstream = text === null ? null : parseDnsUpstream(text);
  }

  /** dnsMode proxy: a client's DNS is answered through its proxy (over TCP when the proxy carries no UDP). */
  get throughProxy(): boolean {
    return this.proxyMode;
  }

  get current(): DnsUpstream | null {
    return this.upstream;
  }

  /** Where a connection or datagram to `ip`:`port` is sent through the proxy: the upstream for DNS, else where it was going. */
  target(ip: string, port: number): { readonly ip: string; readonly port: number } {
    return port === DNS_PORT && this.upstream !== null ? this.upstream : { ip, port };
  }
}
