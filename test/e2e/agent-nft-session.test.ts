import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NftSession } from '../../services/agent/src/ruleset/nft-session.js';
import { cleanupStaleLabs, createLab, type Lab } from '../../lab/index.js';

/**
 * The agent's long-running `nft -i` for set-element deltas (issue 13.1), against the real nft in a
 * lab gateway namespace: a transaction is all or nothing, its error is nft's own, and the session
 * survives an error and the death of its nft.
 */
describe('agent nft session (deltas through one nft -i)', () => {
  let lab: Lab;
  let dir: string;
  let session: NftSession;
  const pids: number[] = [];

  const elements = async () => {
    const r = await lab.exec(lab.ns.gateway, ['nft', '-j', 'list', 'set', 'inet', 'pgw_session_test', 'clients']);
    const set = (JSON.parse(r.stdout).nftables as { set?: { elem?: string[] } }[]).find((item) => item.set)?.set;
    return [...(set?.elem ?? [])].sort();
  };

  before(async () => {
    await cleanupStaleLabs();
    lab = await createLab({ clients: 1, proxies: [] });
    await lab.exec(lab.ns.gateway, ['nft', 'add table inet pgw_session_test; add set inet pgw_session_test clients { type ipv4_addr; }']);
    // The session starts nft in its own namespace; this one enters the lab's gateway first (ip netns exec keeps the pid).
    dir = await mkdtemp(join(tmpdir(), 'pgw-nft-session-'));
    const bin = join(dir, 'nft-in-gateway');
    await writeFile(bin, `#!/bin/sh\nexec ip netns exec ${lab.ns.gateway} nft "$@"\n`);
    await chmod(bin, 0o755);
    session = new NftSession(bin, (pid) => pids.push(pid), 5_000);
  });
  after(async () => {
    session?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await lab?.destroy();
  });

  it('applies each delta as one transaction and reports nft’s error for one it refuses', async () => {
    await session.run('create element inet pgw_session_test clients { 192.168.2.10 }\ncreate element inet pgw_session_test clients { 192.168.2.11 }\n');
    assert.deepEqual(await elements(), ['192.168.2.10', '192.168.2.11']);
    await assert.rejects(
      session.run('delete element inet pgw_session_test clients { 192.168.2.10 }\ncreate element inet pgw_session_test clients { 192.168.2.11 }\n'),
      /File exists/,
    );
    assert.deepEqual(await elements(), ['192.168.2.10', '192.168.2.11'], 'the refused transaction changed nothing, its delete included');
    await session.run('delete element inet pgw_session_test clients { 192.168.2.10 }\n');
    assert.deepEqual(await elements(), ['192.168.2.11'], 'the session still works after an error');
    assert.equal(new Set(pids).size, 1, 'one nft process for every transaction');
    assert.equal(pids.length, 3, 'its pid announced before each transaction');
  });

  it('starts a new nft when its nft died', async () => {
    process.kill(pids.at(-1)!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await session.run('create element inet pgw_session_test clients { 192.168.2.12 }\n');
    assert.deepEqual(await elements(), ['192.168.2.11', '192.168.2.12']);
    assert.notEqual(pids.at(-1), pids[0], 'a new process');
  });
});
