/**
 * The faults of the chaos matrix (issue 11 point 5), shared by chaos-matrix.test.ts and
 * `npm run bench:chaos`. Each one is what an operator, a crash or the machine does to a running
 * gateway; a service that is stopped or killed is started again at once (systemd would wait its
 * RestartSec=1 first). Every fault reports when it began and when the test ended it.
 */
import { readdirSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execIn } from '../../lab/index.js';
import type { ServiceName } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';
import { type ChaosFault, type ChaosLab, FIRST_PORT, type FaultOutcome, stateFileText } from './chaos-harness.js';

const HOLD_MS = 2000;
const LAN_DOWN_MS = 1000;

/** Debian's stock /etc/nftables.conf: what `systemctl reload nftables` loads. */
const NFTABLES_CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
`;

function kill(service: ServiceName): ChaosFault {
  return {
    key: `kill-${service}`,
    name: `SIGKILL ${service}`,
    async run(c) {
      const faultAt = Date.now();
      await c.gateway.kill(service);
      const endAt = Date.now();
      await c.gateway.start(service);
      return { faultAt, endAt, extra: { readyMs: Date.now() - endAt } };
    },
  };
}

/** Stops something for HOLD_MS and starts it again. */
function outage(key: string, name: string, stop: (c: ChaosLab) => Promise<void>, start: (c: ChaosLab) => Promise<void>, holdMs = HOLD_MS): ChaosFault {
  return {
    key,
    name,
    async run(c) {
      const faultAt = Date.now();
      await stop(c);
      await sleep(holdMs);
      const endAt = Date.now();
      await start(c);
      return { faultAt, endAt };
    },
  };
}

function nftFault(key: string, name: string, damages: ChaosFault['damages'], argv: string[]): ChaosFault {
  return {
    key,
    name,
    damages,
    selfHeal: true,
    async run(c) {
      const faultAt = Date.now();
      const r = await c.nft(...argv);
      if (r.exitCode !== 0) throw new Error(`nft ${argv.join(' ')}: ${r.stderr}`);
      return { faultAt, endAt: faultAt };
    },
  };
}

const flushWithAgentDead: ChaosFault = {
  key: 'flush-agent-dead',
  name: 'nft flush ruleset, agent dead',
  damages: ['guard', 'pgw'],
  async run(c) {
    await c.gateway.kill('agent');
    const faultAt = Date.now();
    const r = await c.nft('flush', 'ruleset');
    if (r.exitCode !== 0) throw new Error(`nft flush ruleset: ${r.stderr}`);
    // Clients keep trying against a gateway with no table and no agent: only the kernel holds.
    await sleep(HOLD_MS);
    const endAt = Date.now();
    await c.gateway.start('agent');
    return { faultAt, endAt, extra: { agentReadyMs: Date.now() - endAt } };
  },
};

const nftablesReload: ChaosFault = {
  key: 'nftables-conf',
  name: 'nft -f nftables.conf (flush ruleset)',
  damages: ['guard', 'pgw'],
  selfHeal: true,
  async run(c) {
    const file = join(c.lab.dir, 'nftables.conf');
    writeFileSync(file, NFTABLES_CONF);
    const faultAt = Date.now();
    const r = await c.nft('-f', file);
    if (r.exitCode !== 0) throw new Error(`nft -f ${file}: ${r.stderr}`);
    return { faultAt, endAt: faultAt };
  },
  // The operator's table stays in force during the row (an accept is not final for pgw's tables).
  async cleanup(c) {
    await c.nft('delete', 'table', 'inet', 'filter');
  },
};

/**
 * The agent's state file cannot be written (its filesystem is full) while the desired state
 * changes: a new mapping must still be enforced, and the file written once there is room again.
 */
const stateDiskFull: ChaosFault = {
  key: 'state-disk-full',
  name: 'state dir full, mapping added',
  async run(c) {
    const filler = join(c.stateDir, 'filler');
    await execIn(undefined, ['dd', 'if=/dev/zero', `of=${filler}`, 'bs=4k'], { reject: false });
    const faultAt = Date.now();
    const mapping = await c.gateway.seedMapping(c.clients.spare, c.proxies.aId, FIRST_PORT + 6);
    await c.publish({ type: 'mapping.changed', mappingId: mapping, action: 'created' });
    const enforcedMs = await waitFor('the new mapping enforced on a full disk', 10_000, async () => (await c.setElements('lan_mapped'))?.includes(c.clients.spare) && Date.now() - faultAt, { intervalMs: 25 });
    const writtenWhileFull = stateFileText(c)?.includes(c.clients.spare) ?? false;
    await sleep(1500); // a resync or two on the full disk
    rmSync(filler);
    const endAt = Date.now();
    const writtenMs = await waitFor('the state file written once there is room', 10_000, () => (stateFileText(c)?.includes(c.clients.spare) ?? false) && Date.now() - endAt, { intervalMs: 25 }).catch(() => null);
    const leftovers = readdirSync(c.stateDir).filter((f) => f !== 'policy.json');
    // Back to the matrix's mappings.
    await c.database.db.deleteFrom('mappings').where('id', '=', mapping).execute();
    await c.publish({ type: 'mapping.changed', mappingId: mapping, action: 'deleted' });
    await waitFor('the new mapping gone again', 10_000, async () => !(await c.setElements('lan_mapped'))?.includes(c.clients.spare), { intervalMs: 25 });
    return {
      faultAt,
      endAt,
      extra: { enforcedMs: enforcedMs as number, writtenWhileFull: String(writtenWhileFull), stateWrittenMs: writtenMs as number | null, leftovers: leftovers.join(' ') || 'none' },
    };
  },
};

/**
 * The idle client's proxy (a dante no load client uses) is SIGKILLed: the liveness connection
 * must block that client within 1 s without any traffic of its own; then the proxy comes back.
 */
const idleProxyKilled: ChaosFault = {
  key: 'proxy-kill-idle',
  name: 'dante SIGKILLed, its client idle',
  async run(c): Promise<FaultOutcome> {
    const blocked = c.nftWatch.blocked(c.clients.idle, 10_000);
    const faultAt = Date.now();
    await c.proxies.c.kill();
    const blockedAt = await blocked;
    const endAt = Date.now();
    await c.proxies.c.start();
    const echoUrl = c.lab.description.internet.echoUrl;
    const idleBackMs = await waitFor('the idle client effective again', 30_000, async () => {
      const res = await c.lab.httpGet({ ns: c.lab.ns.lan, url: echoUrl, sourceIp: c.clients.idle, timeoutMs: 2000 });
      return res.ok && res.status === 200 && (JSON.parse(res.body) as { ip: string }).ip === c.proxies.c.ip && Date.now() - endAt;
    }, { intervalMs: 200 }).catch(() => null);
    return { faultAt, endAt, extra: { blockedMs: blockedAt === null ? null : blockedAt - faultAt, idleBackMs: idleBackMs as number | null } };
  },
};

export const CHAOS_FAULTS: readonly ChaosFault[] = [
  kill('agent'),
  kill('forwarder'),
  kill('health'),
  kill('api'),
  outage('redis', 'Redis stopped 2 s, started', (c) => c.lab.redis.stop(), (c) => c.lab.redis.start()),
  outage('postgres', 'Postgres unreachable 2 s, back', (c) => c.relay.stop(), (c) => c.relay.start()),
  nftFault('flush-agent-alive', 'nft flush ruleset, agent alive', ['guard', 'pgw'], ['flush', 'ruleset']),
  flushWithAgentDead,
  nftFault('delete-pgw', 'nft delete table inet pgw', ['pgw'], ['delete', 'table', 'inet', 'pgw']),
  nftFault('delete-guard', 'nft delete table inet pgw_guard', ['guard'], ['delete', 'table', 'inet', 'pgw_guard']),
  nftablesReload,
  outage('lan-down', 'LAN interface down 1 s, up', (c) => c.lab.exec(c.gw, ['ip', 'link', 'set', 'ens19', 'down']).then(() => undefined), (c) => c.lab.exec(c.gw, ['ip', 'link', 'set', 'ens19', 'up']).then(() => undefined), LAN_DOWN_MS),
  outage('forwarder-restart', 'forwarder restarted (SIGTERM, start)', (c) => c.gateway.stop('forwarder'), (c) => c.gateway.start('forwarder').then(() => undefined), 0),
  stateDiskFull,
  idleProxyKilled,
];
