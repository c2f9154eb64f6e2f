// Chaos matrix, end to end (issue 11 point 5): every pgw service for real in a lab, LAN clients
// loading it, tcpdump on the gateway's eth0 and a crafted-SYN prober aimed at every gateway
// socket all along (chaos-harness.ts); each fault of chaos-faults.ts in turn. After each: no packet
// with a client (or loopback) address on eth0, no SYN-ACK from a gateway socket to the LAN, every
// load client effective again, both tables and the kernel backstop in force. Positive controls at
// the start show the capture and the prober see what they look for when nothing enforces.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CHAOS_FAULTS } from './chaos-faults.js';
import { type ChaosLab, createChaosLab, type FaultRow, formatRow, leaksSince, ROW_HEADER, runFault } from './chaos-harness.js';

/**
 * Self-heal of one fault row (flush, table deleted: both tables back): one sample, bounded by the
 * one-second promise and printed. Issue 11's 100 ms is a p99 of 20 trials: agent-selfheal.test.ts
 * and bench:selfheal hold it; a single sample on a loaded CI machine cannot.
 */
const SELF_HEAL_MS = 1000;
/**
 * After the agent restarts (SIGKILL, or a flush while it was dead): the forwarder hands its
 * sockets back and the agent's reconcile unblocks their clients at once, not at a later resync.
 */
const AFTER_AGENT_READY_MS = 1000;
/** Issue 11 point 4: a proxy process that dies blocks its idle clients within 1 s. */
const IDLE_BLOCK_MS = 1000;

let c: ChaosLab;
let startedAt: number;
const rows: FaultRow[] = [];

describe('chaos matrix: fail closed under every fault (issue 11.5)', { timeout: 600_000 }, () => {
  before(async () => {
    c = await createChaosLab((line) => console.log(`# ${line}`));
    startedAt = Date.now();
    assert.ok(c.controls.wanPackets > 0 && c.controls.synAcks > 0, 'positive controls');
  });

  after(async () => {
    console.log(`# ${ROW_HEADER}`);
    for (const row of rows) console.log(`# ${formatRow(row)}`);
    await c?.destroy();
  });

  for (const fault of CHAOS_FAULTS) {
    it(fault.name, async () => {
      const row = await runFault(c, fault);
      rows.push(row);
      console.log(`# ${formatRow(row)}`);
      assert.ok(row.synsSent > 100, `the prober ran during the fault (${row.synsSent} SYNs)`);
      assert.deepEqual(row.leaked, [], 'packets with a client or loopback address on eth0');
      assert.deepEqual(row.reaches, [], 'SYN-ACKs from a gateway socket to the LAN');
      assert.notEqual(row.recoveryMs, null, 'every load client effective again within 30 s');
      assert.deepEqual(row.postcondition, [], 'tables, kernel backstop and services once recovered');
      if (fault.selfHeal) assert.ok(row.tablesBackMs != null && row.tablesBackMs <= SELF_HEAL_MS, `both tables back in ${row.tablesBackMs} ms`);
      if (fault.key.startsWith('forwarder') || fault.key === 'kill-forwarder') assert.equal(row.refused, 0, 'forwarder restart: no connection refused');
      if (fault.key === 'forwarder-restart') assert.equal(row.failed, 0, `graceful forwarder restart: no connection failed (${JSON.stringify(row.errors)})`);
      if (fault.key === 'kill-agent' || fault.key === 'flush-agent-dead') {
        const ready = Number(row.extra.readyMs ?? row.extra.agentReadyMs);
        const afterReady = row.recoveryMs! - row.heldMs - ready;
        console.log(`# ${fault.name}: every client served ${afterReady} ms after the agent was ready`);
        assert.ok(afterReady <= AFTER_AGENT_READY_MS, `clients served again ${afterReady} ms after the agent was ready`);
      }
      if (fault.key === 'proxy-kill-idle') {
        assert.ok(typeof row.extra.blockedMs === 'number' && row.extra.blockedMs <= IDLE_BLOCK_MS, `idle client blocked after ${row.extra.blockedMs} ms`);
        assert.notEqual(row.extra.idleBackMs, null, 'the idle client effective again once its proxy is back');
      }
      if (fault.key === 'state-disk-full') {
        assert.equal(row.extra.writtenWhileFull, 'false', 'the state file cannot have been written on a full disk (the fault took effect)');
        assert.notEqual(row.extra.stateWrittenMs, null, 'the state file written once there is room again');
      }
    });
  }

  it('over the whole run, between the faults too: no packet with a client address on eth0', async () => {
    assert.deepEqual(await leaksSince(c, startedAt), []);
  });
});
