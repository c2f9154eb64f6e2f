// The systemd units: `systemd-analyze verify` (works without systemd as PID 1: it loads the units in a
// private manager and checks syntax, references and that each ExecStart binary exists), the privilege
// split read from the unit files, and `systemd-analyze security --offline=yes` exposure per unit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SERVICE_SPECS, type ServiceName } from '../support/gateway.js';

const DIR = fileURLToPath(new URL('../../systemd/', import.meta.url));
const UNITS = readdirSync(DIR).filter((f) => /\.(service|socket|target)$/.test(f)).sort();
const NODE_SERVICES = { agent: 'root', forwarder: 'pgw', api: 'pgw-api', health: 'pgw-health' } as const;
const UNPRIVILEGED = ['pgw-api.service', 'pgw-health.service', 'pgw-forwarder.service'];
/** systemd-analyze security rates exposure below 5.0 "OK", below 1.0 "SAFE". */
const OK_THRESHOLD = 5.0;

/** Directive -> values (a directive may repeat), across all sections. */
function readUnit(file: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of readFileSync(join(DIR, file), 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) directives.set(match[1]!, [...(directives.get(match[1]!) ?? []), match[2]!]);
  }
  return directives;
}
const one = (unit: Map<string, string[]>, key: string) => unit.get(key)?.at(-1);

function analyze(args: string[]) {
  return spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 });
}

describe('systemd-analyze verify', () => {
  it('accepts every unit without a warning', () => {
    assert.deepEqual(UNITS, ['pgw-agent.service', 'pgw-api.service', 'pgw-api.socket', 'pgw-forwarder.service', 'pgw-guard.service', 'pgw-health.service', 'pgw.target']);
    const result = analyze(['verify', ...UNITS.map((u) => join(DIR, u))]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'verify printed warnings');
  });

  it('rejects a broken copy (negative control: the check above can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgw-ops-systemd-'));
    try {
      const text = readFileSync(join(DIR, 'pgw-api.service'), 'utf8');
      for (const [name, broken] of [
        ['pgw-bad-exec.service', text.replace('/usr/bin/node ', '/usr/bin/no-such-node ')],
        ['pgw-bad-key.service', text.replace('Restart=always', 'Restart=sometimes')],
      ] as const) {
        writeFileSync(join(dir, name), broken);
        const result = analyze(['verify', join(dir, name)]);
        assert.ok(result.status !== 0 || result.stderr.trim() !== '', `${name} passed verify`);
      }
      copyFileSync(join(DIR, 'pgw-api.service'), join(dir, 'pgw-good.service'));
      copyFileSync(join(DIR, 'pgw-api.socket'), join(dir, 'pgw-api.socket'));
      assert.equal(analyze(['verify', join(dir, 'pgw-good.service')]).stderr.trim(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('privilege split and operability in systemd/', () => {
  it('each node service runs as its own user, reads its own env file in /etc/pgw, restarts whenever it ends without giving up', () => {
    for (const [name, user] of Object.entries(NODE_SERVICES)) {
      const unit = readUnit(`pgw-${name}.service`);
      assert.equal(one(unit, 'User'), user, name);
      assert.equal(one(unit, 'EnvironmentFile'), `/etc/pgw/${name}.env`, name);
      // The same node flags as the demo and the tests launch it with (SERVICE_SPECS).
      const flags = SERVICE_SPECS[name as ServiceName].nodeFlags;
      assert.equal(one(unit, 'ExecStart'), ['/usr/bin/node', ...flags, `/opt/pgw/services/${name}/bundle/main.js`].join(' '), name);
      // always, not on-failure: a stray SIGTERM (kill <pid>) is a clean exit to systemd, and the agent
      // or forwarder stayed down (every client held by the guard) until someone noticed.
      assert.equal(one(unit, 'Restart'), 'always', name);
      assert.equal(one(unit, 'StartLimitIntervalSec'), '0', `${name}: systemd would stop restarting after 5 failures in 10 s`);
      // Start-up share: CPUWeight=50 where the launch spec (tests, demo) uses nice 3, the default elsewhere.
      const niceness = SERVICE_SPECS[name as ServiceName].niceness;
      assert.equal(unit.get('CPUWeight')?.[0], niceness > 0 ? '50' : undefined, `${name} CPUWeight`);
      assert.equal(one(unit, 'PartOf'), 'pgw.target', name);
      assert.equal(one(unit, 'WantedBy'), 'pgw.target', name);
      assert.ok(one(unit, 'MemoryMax'), `${name}: MemoryMax`);
    }
  });

  it('the agent is root with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE alone, and keeps its state in /var/lib/pgw/agent', () => {
    const agent = readUnit('pgw-agent.service');
    assert.equal(one(agent, 'CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE');
    assert.equal(one(agent, 'AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE');
    assert.equal(one(agent, 'StateDirectory'), 'pgw/agent');
    assert.equal(one(agent, 'ReadWritePaths'), '/proc/sys/net/ipv4/conf -/proc/sys/net/ipv6/conf /proc/sys/net/ipv4/tcp_tw_reuse', 'the only tunables it may write (route_localnet, LAN forwarding and IPv6 off, TIME_WAIT reuse)');
    assert.match(one(agent, 'RestrictAddressFamilies')!, /AF_NETLINK/);
  });

  it('unprivileged services have an empty capability set; only the forwarder and health have netlink (getifaddrs)', () => {
    for (const file of UNPRIVILEGED) {
      const unit = readUnit(file);
      assert.equal(one(unit, 'CapabilityBoundingSet'), '', file);
      assert.equal(one(unit, 'AmbientCapabilities'), '', file);
      // The forwarder's destination guard reads the gateway's addresses (os.networkInterfaces); it
      // could not start without AF_NETLINK under a real systemd (test/deploy/systemd.test.ts); health
      // reads them for the "proxy does not proxy" alarm (without it every probe failed there).
      const netlink = file === 'pgw-forwarder.service' || file === 'pgw-health.service';
      assert.equal(one(unit, 'RestrictAddressFamilies'), netlink ? 'AF_UNIX AF_INET AF_INET6 AF_NETLINK' : 'AF_UNIX AF_INET AF_INET6', file);
    }
  });

  it('every service carries the common hardening', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes', LockPersonality: 'yes', SystemCallArchitectures: 'native', UMask: '0077',
    };
    for (const file of UNITS.filter((u) => u.endsWith('.service'))) {
      const unit = readUnit(file);
      for (const [key, value] of Object.entries(expected)) assert.equal(one(unit, key), value, `${file}: ${key}`);
      assert.equal(unit.get('SystemCallFilter')?.[0], '@system-service', file);
    }
  });

  it('no pgw unit requires or binds to another but a service to its own socket, so each restarts alone', () => {
    for (const file of UNITS) {
      const unit = readUnit(file);
      // A service holds its own socket unit (the api's port across restarts): restarting it leaves the socket.
      const ownSocket = file.replace(/\.service$/, '.socket');
      for (const key of ['Requires', 'BindsTo', 'Requisite']) {
        const others = (unit.get(key) ?? []).flatMap((v) => v.split(' ')).filter((v) => /pgw/.test(v) && v !== ownSocket);
        assert.deepEqual(others, [], `${file}: ${key} on a pgw unit`);
      }
    }
  });

  it('a path that a kernel may lack is optional in ReadWritePaths= (IPv6 off at boot: ipv6.disable=1)', () => {
    // A missing path fails the unit's namespace set-up (226/NAMESPACE) before its command runs: the
    // guard would load nothing at boot and the agent would not start, where both skip the IPv6
    // sysctls on such a kernel. Not booted here (no way to drop /proc/sys/net/ipv6 but at boot):
    // checked on the unit files.
    for (const file of UNITS.filter((u) => u.endsWith('.service'))) {
      const paths = (readUnit(file).get('ReadWritePaths') ?? []).flatMap((v) => v.split(' ')).filter((v) => v.includes('/proc/sys/net/ipv6'));
      for (const path of paths) assert.ok(path.startsWith('-'), `${file}: ReadWritePaths=${path} must be optional (-${path})`);
    }
  });

  it('the guard is a oneshot before network-pre.target that stays loaded when stopped', () => {
    const guard = readUnit('pgw-guard.service');
    assert.equal(one(guard, 'Type'), 'oneshot');
    assert.equal(one(guard, 'RemainAfterExit'), 'yes');
    assert.equal(one(guard, 'DefaultDependencies'), 'no');
    assert.match(one(guard, 'Before')!, /\bnetwork-pre\.target\b/);
    assert.equal(one(guard, 'ExecStart'), '/bin/sh /opt/pgw/guard/load-guard.sh');
    assert.match(one(guard, 'ReadWritePaths')!, /\/proc\/sys\/net\/ipv4\/conf/, 'the loader writes the LAN forwarding backstop');
    const agent = readUnit('pgw-agent.service');
    assert.equal(one(agent, 'ExecStopPost'), '/usr/bin/node /opt/pgw/services/agent/dist/stopped.js', 'route_localnet off after any agent exit');
    assert.equal(guard.get('ExecStop'), undefined, 'stopping the unit must not unload the guard table');
    assert.equal(one(guard, 'WantedBy'), 'sysinit.target');
    assert.equal(one(readUnit('pgw-agent.service'), 'After')?.split(' ')[0], 'pgw-guard.service');
  });

  it('the api’s port is its socket unit’s, at the api’s default address, and stopping pgw.target stops it', () => {
    const socket = readUnit('pgw-api.socket');
    assert.deepEqual(socket.get('ListenStream'), ['127.0.0.1:8080']);
    // IP_FREEBIND: an address not configured yet when socket units start (before the network) binds all the same.
    assert.equal(one(socket, 'FreeBind'), 'true');
    assert.equal(one(socket, 'PartOf'), 'pgw.target');
    const api = readUnit('pgw-api.service');
    assert.equal(one(api, 'Requires'), 'pgw-api.socket');
    assert.ok(one(api, 'After')!.split(' ').includes('pgw-api.socket'));
    assert.ok(api.get('Environment')!.includes('PGW_API_PORT=8080'), 'the port the socket listens on');
  });

  it('pgw.target wants every service', () => {
    const wants = one(readUnit('pgw.target'), 'Wants')!.split(' ').sort();
    assert.deepEqual(wants, UNITS.filter((u) => u.endsWith('.service')));
  });
});

describe('systemd-analyze security --offline=yes', () => {
  it('rates every unit OK or better and prints the exposure figures', () => {
    const figures: Record<string, number> = {};
    for (const file of UNITS.filter((u) => u.endsWith('.service'))) {
      const result = analyze(['security', '--offline=yes', '--no-pager', join(DIR, file)]);
      assert.equal(result.status, 0, result.stderr);
      const match = /Overall exposure level for \S+: (\d+\.\d) (\S+)/.exec(result.stdout);
      assert.ok(match, `${file}: no exposure line in:\n${result.stdout.slice(-500)}`);
      figures[file] = Number(match[1]);
      console.log(`exposure ${file}: ${match[1]} ${match[2]}`);
    }
    for (const file of UNPRIVILEGED) assert.ok(figures[file]! < OK_THRESHOLD, `${file}: exposure ${figures[file]} is not OK`);
    // Privileged units are not held to the goal, but must not regress past it either.
    for (const file of ['pgw-agent.service', 'pgw-guard.service']) assert.ok(figures[file]! < OK_THRESHOLD, `${file}: exposure ${figures[file]}`);
    console.log(JSON.stringify({ systemdExposure: figures }));
  });
});
