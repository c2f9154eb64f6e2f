// The forwarder's destination policy in force: the pure rules of @pgw/domain (destination-policy.ts)
// fed with the settings of the last desired-state load and the addresses on the gateway's own
// interfaces, re-read on a timer. The forwarder runs in the gateway's network namespace, so
// os.networkInterfaces() (getifaddrs, a few microseconds) sees exactly the gateway's addresses; an
// address added by DHCP or an operator is refused within one period, without a netlink watch.
import { DialError } from '@pgw/dialers';
import { DestinationPolicy, type DestinationRefusal, type PrivateDestinations, ProxyHostPolicy, type ProxyHostProblem, type ProxyHostRefusal, type Settings } from '@pgw/domain';
import { GatewayAddressReader, gatewayAddresses } from '@pgw/runtime';

export const ADDRESS_REFRESH_MS = 2_000;
const PROXY_ANSWERS_MAX = 1024;
/** Answers kept for client destinations; then all are forgotten at once (a scan of many addresses cannot grow it). */
const DESTINATION_ANSWERS_MAX = 4096;

/** Until the first settings arrive every IPv4 address counts as LAN: nothing is relayed or dialed (fail closed). */
const NOTHING_YET: Pick<Settings, 'lanCidr' | 'privateDestinations'> = { lanCidr: '0.0.0.0/0' as Settings['lanCidr'], privateDestinations: 'deny' };

export class DestinationGuard {
  private settings = NOTHING_YET;
  private addresses: string[] = [];
  private destinations!: DestinationPolicy;
  private proxies!: ProxyHostPolicy;
  private readonly proxyAnswers = new Map<string, ProxyHostProblem | null>();
  /** By override and destination: clients go to the same few addresses again and again. */
  private readonly destinationAnswers = new Map<string, DestinationRefusal | null>();
  /** Called after every change of the policy in force (settings or the gateway's addresses): the live connections are judged again. */
  onChange: (() => void) | null = null;
  /** Told when a re-read of the addresses fails (the last ones stay in force), once until a read succeeds again. */
  onAddressReadError: ((error: Error) => void) | null = null;
  private readonly reader: GatewayAddressReader;

  constructor(
    /** PGW_PROXY_ALLOW_CIDRS: networks where the operator allows proxies although they would be refused. */
    private readonly allowedProxyNetworks: readonly string[],
    readAddresses: () => string[] = gatewayAddresses,
  ) {
    this.reader = new GatewayAddressReader((error) => this.onAddressReadError?.(error), readAddresses);
    this.refreshAddresses();
    this.rebuild();
  }

  /** Called with the settings of every desired-state load; rebuilds only when they changed. */
  configure(settings: Pick<Settings, 'lanCidr' | 'privateDestinations'>): void {
    if (settings.lanCidr === this.settings.lanCidr && settings.privateDestinations === this.settings.privateDestinations) return;
    this.settings = { lanCidr: settings.lanCidr, privateDestinations: settings.privateDestinations };
    this.rebuild();
  }

  /** Re-reads the gateway's addresses (the last ones where a read fails: GatewayAddressReader); true when they changed. */
  refreshAddresses(): boolean {
    const next = this.reader.current();
    if (next.length === this.addresses.length && next.every((address, i) => address === this.addresses[i])) return false;
    this.addresses = next;
    return true;
  }

  /** Re-reads the addresses every `intervalMs` until the returned function is called. */
  watch(intervalMs = ADDRESS_REFRESH_MS): () => void {
    const timer = setInterval(() => {
      if (this.refreshAddresses()) this.rebuild();
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  get gatewayAddresses(): readonly string[] {
    return this.addresses;
  }

  /**
   * null: the client's original destination may be relayed. Asked for every connection: the
   * answers are kept until the policy is rebuilt (parsing and range-matching an address with
   * ipaddr.js took ~13 µs of the forwarder's ~430 µs of CPU per connection).
   */
  refusal(destination: string, override: PrivateDestinations | null): DestinationRefusal | null {
    const key = override === null ? destination : `${override} ${destination}`;
    return answerOnce(this.destinationAnswers, key, DESTINATION_ANSWERS_MAX, () => this.destinations.refusal(destination, override));
  }

  /**
   * For DialOptions.checkProxyAddress: a proxy (or a SOCKS5 UDP relay) never on loopback, the
   * gateway's own addresses, link-local, the LAN, ... Asked
   * for every dial and warm connection, with the same few proxy addresses: the answers are kept
   * until the policy is rebuilt (at most PROXY_ANSWERS_MAX, then forgotten at once).
   */
  readonly checkProxyAddress = (address: string): ProxyHostProblem | null => answerOnce(this.proxyAnswers, address, PROXY_ANSWERS_MAX, () => this.proxies.problem(address));

  private rebuild(): void {
    this.destinations = new DestinationPolicy({ lanCidr: this.settings.lanCidr, gatewayAddresses: this.addresses, privateDestinations: this.settings.privateDestinations });
    this.proxies = new ProxyHostPolicy({ lanCidr: this.settings.lanCidr, allowedNetworks: this.allowedProxyNetworks, gatewayAddresses: this.addresses });
    this.proxyAnswers.clear();
    this.destinationAnswers.clear();
    this.onChange?.();
  }
}

/** The kept answer for `key`, else `compute`'s, kept; at `max` answers all are forgotten at once (many distinct keys cannot grow it). */
function answerOnce<V>(answers: Map<string, V>, key: string, max: number, compute: () => V): V {
  const known = answers.get(key);
  if (known !== undefined) return known;
  const answer = compute();
  if (answers.size >= max) answers.clear();
  answers.set(key, answer);
  return answer;
}

/**
 * The refusal reason of a dial that the policy stopped, else null: checkProxyAddress's (the proxy,
 * or its UDP relay, where no proxy may be), or a destination's (a UDP relay the proxy named
 * elsewhere, judged as the client's destination: Socks5UdpAssociation's checkRelay). `Reason`:
 * what the caller's checks give (the UDP relay's also `relay_elsewhere`).
 */
export function proxyRefusalOf<Reason extends string = ProxyHostRefusal | DestinationRefusal>(error: unknown): Reason | null {
  if (!(error instanceof DialError) || error.reason !== 'proxy_forbidden') return null;
  return (error.cause as { reason: Reason } | undefined)?.reason ?? null;
}
