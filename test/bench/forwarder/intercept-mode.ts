/**
 * Waits of the benches that start pgw between rows: each pgw client's traffic leaving by its proxy,
 * and the agent's table in the interception mode asked for.
 */
import type { Lab, ProxyHandle } from '../../../lab/index.js';

export type InterceptMode = 'dnat' | 'tproxy';

/** Every client exits by its proxy (the echo server sees the proxy's address), within `withinMs`. */
export async function waitEffective(lab: Lab, pairs: readonly (readonly [string, ProxyHandle])[], withinMs = 15_000): Promise<void> {
  for (const [client, proxy] of pairs) {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const r = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: client, timeoutMs: 3_000 });
      if (r.ok && (JSON.parse(r.body) as { ip: string }).ip === proxy.ip) break;
      if (Date.now() > deadline) throw new Error(`pgw client ${client} not effective through ${proxy.url} within ${withinMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The rows are labelled by the mode the agent rendered, not only the one the bench asked for. Waited
 * for: the agent's boot fast path may first apply its state file, written in the other mode.
 */
export async function waitInterceptMode(lab: Lab, mode: InterceptMode): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const table = (await lab.exec(lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw'], { reject: false })).stdout;
    if (/chain lan_tproxy\b/.test(table) === (mode === 'tproxy')) return;
    if (Date.now() > deadline) throw new Error(`interceptMode ${mode} set, but the agent's inet pgw ${mode === 'tproxy' ? 'lacks' : 'still has'} chain lan_tproxy after 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
