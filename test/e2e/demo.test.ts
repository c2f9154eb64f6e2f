import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { REPO_ROOT } from '../support/gateway.js';

/**
 * Each client's line says what it gets in the demo's TPROXY mode with DNS through the proxy (issue
 * 15), as the demo found it: from the api, a UDP echo and a real `dig TXT whoami.pgw.test` from the
 * client. The dante clients' UDP comes back and their DNS answer is their proxy's exit address; the
 * tinyproxy client's UDP is dropped as the api reports, its DNS answered over TCP through tinyproxy.
 */
const CARRIES = [
  /client 192\.168\.2\.10 -> 198\.51\.100\.10 \(tproxy: tcp, udp, dns via proxy\)/,
  /client 192\.168\.2\.11 -> 198\.51\.100\.11 \(tproxy: tcp, udp, dns via proxy\)/,
  /client 192\.168\.2\.12 -> 198\.51\.100\.12 \(tproxy: tcp, dns via proxy; udp dropped: http proxy\)/,
  /client 192\.168\.2\.13 -> 198\.51\.100\.10 \(tproxy: tcp, udp, dns via proxy\)/,
];

/** The README's run command, minus the machine setup that the test command has already done. */
describe('the demo command brings up the lab with all services and prints a working status line', () => {
  const id = randomBytes(3).toString('hex');
  const env = { PGW_DEMO_DIR: join(tmpdir(), `pgw-demo-test-${id}`), PGW_DEMO_DATABASE: `pgw_demo_${id}`, PGW_DEMO_API_PORT: String(18000 + (parseInt(id, 16) % 2000)) };
  const demo = (command: string) => execa('node', ['--import', 'tsx', 'scripts/demo/demo.ts', command], { cwd: REPO_ROOT, env, reject: false, timeout: 240_000 });

  after(async () => {
    await demo('down');
    await execa('dropdb', ['-h', '/var/run/postgresql', '--if-exists', '--force', env.PGW_DEMO_DATABASE], { reject: false });
    rmSync(env.PGW_DEMO_DIR, { recursive: true, force: true });
  });

  it('up: every lab client exits through its own proxy, and the console login is printed', async () => {
    const up = await demo('up');
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    const routes = [...up.stdout.matchAll(/client (192\.168\.2\.\d+) -> (\S+)/g)].map((m) => [m[1], m[2]]);
    assert.equal(routes.length, 4, up.stdout);
    for (const [client, exit] of routes) assert.match(exit!, /^198\.51\.100\.1[0-2]$/, `${client} exits via a proxy address`);
    for (const line of CARRIES) assert.match(up.stdout, line);
    assert.match(up.stdout, new RegExp(`console http://127\\.0\\.0\\.1:${env.PGW_DEMO_API_PORT}\\s+login: admin / \\S+`));
    assert.match(up.stdout, /status: 3\/3 proxies up, 4 mappings, 0 clients blocked/);
  });

  it('up again changes nothing and reports the same routes', async () => {
    const again = await demo('up');
    assert.equal(again.exitCode, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /seeding|creating database|running as/);
    assert.equal([...again.stdout.matchAll(/client 192\.168\.2\.\d+ -> 198\.51\.100\.1[0-2]/g)].length, 4, again.stdout);
    for (const line of CARRIES) assert.match(again.stdout, line);
  });

  it('leaves the cluster-wide service roles usable by another pgw on the machine', async () => {
    // The operator's demo logs in with these same role passwords: a second demo must not change them.
    const roles = await execa('psql', ['-h', '/var/run/postgresql', '-d', 'postgres', '-Atc', "SELECT count(*) FROM pg_roles WHERE rolname IN ('pgw_api', 'pgw_health', 'pgw_agent', 'pgw_forwarder') AND rolcanlogin"], { reject: false });
    assert.equal(roles.stdout.trim(), '4', 'the four service roles can log in');
    const again = await demo('up');
    assert.match(again.stdout, /client 192\.168\.2\.10 -> 198\.51\.100\.10/, 'a second up still logs every service in');
  });

  it('down stops the services and removes the lab', async () => {
    const down = await demo('down');
    assert.equal(down.exitCode, 0, down.stderr);
    const status = await demo('status');
    assert.match(status.stdout, /agent\s+stopped/);
    assert.match(status.stdout, /lab\s+down/);
  });
});
