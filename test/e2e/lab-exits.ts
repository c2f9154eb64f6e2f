// What the forwarder e2e tests ask of a lab: one of its proxies, and where a LAN client's traffic exits.
import type { Lab, ProxyHandle } from '../../lab/index.js';

/** The lab's proxy of `kind`; throws when the lab started none. */
export function labProxy(lab: Lab, kind: ProxyHandle['kind']): ProxyHandle {
  const found = lab.proxies.find((p) => p.kind === kind);
  if (!found) throw new Error(`lab has no ${kind} proxy`);
  return found;
}

/** The address the internet host saw a GET from LAN `client` come from: the exit of whatever carries that client. */
export async function exitIpVia(lab: Lab, client: string): Promise<string> {
  const { echoUrl } = lab.description.internet;
  const result = await lab.httpGet({ ns: lab.ns.lan, url: echoUrl, sourceIp: client, timeoutMs: 3000 });
  if (!result.ok) throw new Error(`GET ${echoUrl} from ${client}: ${result.error}`);
  return (JSON.parse(result.body) as { ip: string }).ip;
}
