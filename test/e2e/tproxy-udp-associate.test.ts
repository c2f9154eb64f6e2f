// SOCKS5 UDP ASSOCIATE against real proxies in the lab (issue 15, the relay pgw's UDP support is
// built on): dante (with and without auth) relays a UDP echo round trip and a DNS query whose
// answer names the proxy's exit address, with nothing but proxy traffic on the gateway's eth0;
// a SOCKS5 server without UDP (the npm one of the interop matrix) refuses the command.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab } from '../../lab/index.js';
import { addWanAddress, startNpmSocks5 } from '../../lab/interop-proxies.js';

const PROBE = fileURLToPath(new URL('./tproxy-udp-probe.ts', import.meta.url));
const NO_UDP_PROXY = '198.51.100.60';
let lab: Lab;

interface ProbeOutput {
  relay?: { address: string; port: number };
  echo?: string | null;
  txt?: string | null;
  error?: { reason: string; message: string };
}

async function probe(proxy: { host: string; port: number; username?: string; password?: string }): Promise<ProbeOutput> {
  const input = {
    proxy: { protocol: 'socks5', ...proxy },
    echo: { host: lab.description.internet.ip, port: lab.description.internet.udpEchoPort },
    dns: { host: lab.description.dns.ip, port: lab.description.dns.port },
  };
  const run = await lab.exec(lab.ns.gateway, [process.execPath, '--conditions=pgw-source', '--import', import.meta.resolve('tsx'), PROBE, JSON.stringify(input)], { reject: false });
  assert.equal(run.exitCode, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as ProbeOutput;
}

describe('SOCKS5 UDP ASSOCIATE through real proxies (issue 15)', { timeout: 90_000 }, () => {
  before(async () => {
    lab = await createLab({ clients: 1, proxies: ['socks5', 'socks5-auth'] });
    await addWanAddress(lab, NO_UDP_PROXY);
    await startNpmSocks5(lab, NO_UDP_PROXY, 1080);
  });

  after(async () => {
    await lab?.destroy();
  });

  it('dante relays a UDP echo and a DNS query whose answer is the proxy’s exit address; eth0 carries only traffic with the proxy', async () => {
    for (const proxy of lab.proxies) {
      const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: 'ip' });
      const out = await probe({ host: proxy.ip, port: proxy.port, ...(proxy.username ? { username: proxy.username, password: proxy.password } : {}) });
      const lines = await capture.stop();
      console.log(`# ${proxy.kind}: ${JSON.stringify(out)}`);
      assert.equal(out.error, undefined, JSON.stringify(out));
      assert.equal(out.relay?.address, proxy.ip, 'the relay is the proxy’s address');
      assert.equal(out.echo, 'pgw-udp-echo', `${proxy.kind}: UDP echo round trip`);
      assert.equal(out.txt, proxy.ip, `${proxy.kind}: the DNS server saw the proxy's exit address`);
      const packets = lines.filter((l) => / IP /.test(l));
      assert.ok(packets.some((l) => l.includes(`> ${proxy.ip}.${out.relay!.port}: UDP`)), `datagrams to the relay:\n${packets.join('\n')}`);
      const other = packets.filter((l) => !l.includes(` ${proxy.ip}.`) && !l.includes(` > ${proxy.ip}.`));
      assert.deepEqual(other, [], 'nothing from the gateway but to and from the proxy');
    }
  });

  it('a SOCKS5 server without UDP refuses the association: proxy_refused, command not supported', async () => {
    const out = await probe({ host: NO_UDP_PROXY, port: 1080 });
    assert.equal(out.error?.reason, 'proxy_refused', JSON.stringify(out));
    assert.match(out.error!.message, /command not supported/);
  });
});
