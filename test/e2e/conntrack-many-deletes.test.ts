// A client whose forwarder port changes loses its tracked connections on the old port: the agent
// deletes them over ctnetlink, many per request. Each deletion's acknowledgement is a socket buffer
// of its own (~768 bytes of the receive buffer's 208 KiB, though its message is 36), so a request
// of 1000 deletions overran the buffer after ~270: the rest of the acknowledgements were dropped
// (ENOBUFS), the run reported a conntrack error and the entries stayed, DNAT-ed to a port no
// socket holds. Real agent, nftables and conntrack table in the lab; the entries are inserted as
// a busy client's would be (conntrack -I), more than one request's worth.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
const PORT = 20010;
const MOVED_TO = 20011;
const ENTRIES = 2_500;

let dp: Dataplane;

describe('the agent deletes a client\'s many tracked connections when its port changes', { timeout: 120_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
    const proxy = await dp.addProxy(0, 'up');
    mapping = await dp.addMapping(CLIENT, proxy, PORT);
    await dp.startAgent();
    await dp.waitFor('the client mapped', async () => ((await dp.setElements('lan_mapped')) ?? []).includes(CLIENT), 20_000);
  });

  after(async () => {
    await dp?.destroy();
  });

  let mapping = 0;
  const tracked = async () => {
    const listed = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', CLIENT], { reject: false });
    return listed.stdout.split('\n').filter((l) => l.includes(`src=${CLIENT} `)).length;
  };

  it(`${ENTRIES} entries of the client are all gone after its port changed, and the run reports no error`, async () => {
    const lines = Array.from({ length: ENTRIES }, (_, i) => `-I -p tcp -s ${CLIENT} -d 203.0.113.10 --sport ${10_000 + i} --dport 80 --state ESTABLISHED -t 600 -u ASSURED`);
    const batch = join(dp.gateway.dir, 'conntrack-entries.txt');
    await writeFile(batch, lines.join('\n') + '\n');
    await dp.lab.exec(dp.gw, ['conntrack', '-R', batch]);
    assert.equal(await tracked(), ENTRIES, 'the entries are in the table');
    const logBefore = (await readFile(dp.agent!.logFile, 'utf8')).length;
    await dp.tdb.db.updateTable('mappings').set({ listenPort: MOVED_TO }).where('id', '=', mapping).execute();
    await dp.bus.publish({ type: 'mapping.changed', mappingId: mapping, action: 'updated' });
    const left = async () => tracked();
    try {
      await dp.waitFor('the client\'s entries deleted', async () => (await left()) === 0, 15_000);
    } catch {
      const log = (await readFile(dp.agent!.logFile, 'utf8')).slice(logBefore).split('\n').filter((l) => l.includes('conntrack')).slice(0, 3);
      assert.fail(`${await left()} of ${ENTRIES} entries left after the port change; agent log: ${log.join(' | ')}`);
    }
    const log = (await readFile(dp.agent!.logFile, 'utf8')).slice(logBefore);
    assert.doesNotMatch(log, /conntrack delete|ENOBUFS|No buffer space/, 'no conntrack error in the run');
  });
});
