// keepalived's track script (deploy/keepalived/pgw-ha-check.sh) must not be answered by whoever
// holds the service's loopback port: while the agent restarts any local user can bind 9101 and
// answer /healthz with 200, and the node stayed MASTER with no agent (no failover). The script takes
// the service's user and checks the listener's owner first. In a network namespace of the test's
// own, a root listener and one of user nobody, both answering HTTP 200.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHECK_USER } from '../../deploy/keepalived/keepalived-config.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${REPO}deploy/keepalived/pgw-ha-check.sh`;
const NS = `pgw-hacheck-${process.pid}`;
const HTTP_200 = "require('node:http').createServer((q, s) => s.end('ok\\n')).listen(Number(process.argv[1]), '127.0.0.1')";
/** A service that is alive (/healthz 200) with nothing in force yet (/readyz 503, as the agent at a first boot with Postgres away). */
/** A service from before /readyz (404 there, /healthz 200): an upgrade may install the script first. */
const OLD_SERVICE = "require('node:http').createServer((q, s) => q.url === '/healthz' ? s.end('ok\\n') : s.writeHead(404).end()).listen(Number(process.argv[1]), '127.0.0.1')";
const NOT_READY = "require('node:http').createServer((q, s) => q.url === '/readyz' ? s.writeHead(503).end('no policy in force yet (no state file)\\n') : s.end('ok\\n')).listen(Number(process.argv[1]), '127.0.0.1')";

/**
 * A cgroup (v2) whose name reads like an owner: ss prints the socket's cgroup path after its uid, and
 * any user may name the cgroups of a subtree delegated to them (systemd's user@.service) this way.
 */
const CGROUP2 = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
const LIAR_CGROUP = CGROUP2 && join(CGROUP2, `pgw-hacheck-${process.pid} uid:0`);

// nsenter, not `ip netns exec`: the script sees the machine's mounts, as keepalived's does, so ss
// can name a socket's cgroup (under `ip netns exec`'s own sysfs it prints "unreachable"). As
// keepalived runs it: as the unprivileged check user, which reads every socket's owner all the same.
const check = (port: number, user: string) =>
  spawnSync('nsenter', [`--net=/run/netns/${NS}`, 'setpriv', `--reuid=${DEFAULT_CHECK_USER}`, `--regid=${DEFAULT_CHECK_USER}`, '--init-groups', 'sh', SCRIPT, String(port), user], { encoding: 'utf8', timeout: 10_000 });

describe('pgw-ha-check.sh', { timeout: 30_000 }, () => {
  before(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    // Detached, so that the namespace's removal below is the only cleanup they need besides a kill.
    for (const [port, user, server] of [[19101, 'root', HTTP_200], [19102, 'nobody', HTTP_200], [19105, 'root', NOT_READY], [19106, 'root', OLD_SERVICE]] as const) {
      spawnSync('ip', ['netns', 'exec', NS, 'setpriv', ...(user === 'root' ? [] : ['--reuid=nobody', '--regid=nogroup', '--clear-groups']), 'sh', '-c', `nohup node -e "${server}" ${port} >/dev/null 2>&1 &`]);
    }
    assert.ok(LIAR_CGROUP, 'a cgroup2 hierarchy is mounted (/proc/mounts)');
    mkdirSync(LIAR_CGROUP);
    // User nobody again, its socket made inside that cgroup (a socket keeps its creator's cgroup).
    // Moved before `ip netns exec`, which mounts a sysfs of the namespace's own (no cgroup tree in it).
    spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$1" setpriv --reuid=nobody --regid=nogroup --clear-groups node -e "$2" 19104', LIAR_CGROUP, NS, HTTP_200], { detached: true, stdio: 'ignore' }).unref();
    for (let i = 0; i < 50; i++) {
      const listening = execFileSync('ip', ['netns', 'exec', NS, 'ss', '-Hltn'], { encoding: 'utf8' });
      if ([19101, 19102, 19104, 19105, 19106].every((port) => listening.includes(`:${port} `))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  after(async () => {
    // Only this namespace's processes: a pattern kill (`pkill -f createServer` under `ip netns
    // exec`) read the whole machine's /proc and killed the deploy tests' listeners running beside it.
    for (const pid of spawnSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    spawnSync('ip', ['netns', 'del', NS]);
    if (!LIAR_CGROUP) return;
    // Removable once its process has exited.
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(LIAR_CGROUP);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });

  it("passes the service's own listener, and refuses one of another user answering 200 all the same", () => {
    const own = check(19101, 'root');
    assert.equal(own.status, 0, own.stderr);
    const squatter = check(19102, 'root');
    assert.notEqual(squatter.status, 0, 'a listener of user nobody answered for the root service');
    assert.match(squatter.stderr, /uid 65534/);
    assert.equal(check(19102, 'nobody').status, 0, 'its own user passes');
    const nothing = check(19103, 'root');
    assert.notEqual(nothing.status, 0);
  });

  it('refuses a service that is alive but not ready (/readyz 503), naming why', () => {
    const notReady = check(19105, 'root');
    assert.notEqual(notReady.status, 0, 'a service with nothing in force passed');
    assert.match(notReady.stderr, /not ready: no policy in force yet \(no state file\)/);
    const old = check(19106, 'root');
    assert.equal(old.status, 0, `a service from before /readyz is judged by its /healthz: ${old.stderr}`);
  });

  it("reads the owner from ss's uid field, not from a cgroup path that reads like one", () => {
    const listed = execFileSync('nsenter', [`--net=/run/netns/${NS}`, 'ss', '-Hltne', 'sport = :19104'], { encoding: 'utf8' });
    assert.match(listed, /uid:65534 .*uid:0/, 'ss shows the real uid, then the cgroup path');
    const liar = check(19104, 'root');
    assert.notEqual(liar.status, 0, `a listener of user nobody in a cgroup named "... uid:0" answered for the root service: ${liar.stderr}`);
    assert.match(liar.stderr, /uid 65534/);
  });
});
