// Fixtures of the agent's specs (not used by the agent itself): the lab's gateway policy around
// some clients, and a LAN client 192.168.2.<last> served on port 20000 + <last>.
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';

export const policyClient = (last: number, extra: Partial<PolicyClient> = {}): PolicyClient => ({
  mappingId: last,
  proxyId: 1,
  ip: parseIpv4(`192.168.2.${last}`),
  port: parsePort(20000 + last),
  blocked: null,
  ...extra,
});

export const gatewayPolicy = (clients: PolicyClient[]): GatewayPolicy => ({
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients,
  strictOutput: null,
});
