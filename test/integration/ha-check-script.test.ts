// keepalived's track script (deploy/keepalived/pgw-ha-check.sh) must not be answered by whoever
// holds the service's loopback port: while the agent restarts any local user can bind 9101 and
// answer /healthz with 200, and the node stayed MASTER with no agent (no failover). The script takes
// the service's user and checks the listener's owner first. In a network namespace of the test's
// own, a root listener and one of user nobody, both answering HTTP 200.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${REPO}deploy/keepalived/pgw-ha-check.sh`;
const NS = `pgw-hacheck-${process.pid}`;
const HTTP_200 = "require('node:http').createServer((q, s) => s.end('ok\\n')).listen(Number(process.argv[1]), '127.0.0.1')";

const check = (port: number, user: string) => spawnSync('ip', ['netns', 'exec', NS, 'sh', SCRIPT, String(port), user], { encoding: 'utf8', timeout: 10_000 });

describe('pgw-ha-check.sh', { timeout: 30_000 }, () => {
  before(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    // Detached, so that the namespace's removal below is the only cleanup they need besides a kill.
    for (const [port, user] of [[19101, 'root'], [19102, 'nobody']] as const) {
      spawnSync('ip', ['netns', 'exec', NS, 'setpriv', ...(user === 'root' ? [] : ['--reuid=nobody', '--regid=nogroup', '--clear-groups']), 'sh', '-c', `nohup node -e "${HTTP_200}" ${port} >/dev/null 2>&1 &`]);
    }
    for (let i = 0; i < 50; i++) {
      const listening = execFileSync('ip', ['netns', 'exec', NS, 'ss', '-Hltn'], { encoding: 'utf8' });
      if (listening.includes(':19101 ') && listening.includes(':19102 ')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  after(() => {
    spawnSync('ip', ['netns', 'exec', NS, 'pkill', '-f', 'createServer']);
    spawnSync('ip', ['netns', 'del', NS]);
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
});
