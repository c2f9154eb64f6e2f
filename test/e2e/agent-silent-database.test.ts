// Postgres gone silent under a running agent (connections open, nothing answered: a network that
// drops packets, a database host without power). A desired-state read would wait ~15 min for TCP
// to give up, and every run of the agent, the 1 s resync's among them, queued behind it: the
// re-assertions that do not need Postgres stopped too. Here `sysctl ip_forward=1`-style tampering
// with the LAN interface's forwarding switch (the kernel backstop) must be undone within seconds
// all the same. Real agent (its Postgres through a relay this test freezes), nftables, the lab.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PgRelay } from '../support/pg-relay.js';
import { createDataplane, type Dataplane } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';

let dp: Dataplane;
let relay: PgRelay;

describe('the agent while Postgres is silent', { timeout: 120_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
    await dp.loadGuard();
    const proxy = await dp.addProxy(0, 'up');
    await dp.addMapping(CLIENT, proxy, 20010);
    relay = new PgRelay(dp.lab, PgRelay.socketDirOf(dp.tdb.urlFor('pgw_agent')));
    await relay.start();
    dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')) });
    await dp.waitFor('the client mapped', async () => ((await dp.setElements('lan_mapped')) ?? []).includes(CLIENT), 20_000);
  });

  after(async () => {
    await relay?.stop();
    await dp?.destroy();
  });

  it("re-asserts the LAN interface's forwarding switch within seconds, the database still silent", async () => {
    const key = `net.ipv4.conf.${dp.lab.description.gateway.lanIface}.forwarding`;
    const forwarding = async () => (await dp.lab.exec(dp.gw, ['sysctl', '-n', key])).stdout.trim();
    assert.equal(await forwarding(), '0', 'the agent switched it off');
    relay.freeze();
    try {
      // Let the resync's reads run into the silence first.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await dp.lab.exec(dp.gw, ['sysctl', '-q', '-w', `${key}=1`]);
      const tampered = Date.now();
      const waited = await dp.waitFor(`${key} back to 0`, async () => (await forwarding()) === '0', 15_000);
      console.log(`# Postgres silent: ${key} back to 0 ${Date.now() - tampered} ms after it was set to 1 (waited ${waited} ms)`);
      assert.equal(relay.running, true, 'the relay is frozen, not stopped: connections stay open');
    } finally {
      relay.thaw();
    }
  });
});
