/**
 * The interop matrix's extra proxies (docs/OPERATIONS.md, "Proxy interop"), started inside a lab's
 * WAN namespace, each on its own address: squid and privoxy (Debian), OpenSSH dynamic forwarding
 * (`ssh -D` against an sshd there), a SOCKS5 server from npm, and the test-written odd servers.
 * Programs that cannot choose their outgoing address (privoxy, sshd, the npm server) are given one
 * by an SNAT rule on their uid in the WAN namespace (table ip pgw_interop), so every proxy's exit
 * IP is its own address.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from './types.js';
import { waitProcessPort } from './wait.js';
import type { OddBehaviour } from './odd-proxy-server.js';

export interface InteropProxy {
  readonly protocol: 'socks5' | 'http';
  readonly ip: string;
  readonly port: number;
}

const ODD_SERVER = fileURLToPath(new URL('./odd-proxy-server.ts', import.meta.url));
const NPM_SERVER = fileURLToPath(new URL('./npm-socks5-server.ts', import.meta.url));
const TSX = ['--import', import.meta.resolve('tsx')];

/** Lets the WAN namespace hold `ip` (beside the lab's own proxy addresses). */
export async function addWanAddress(lab: Lab, ip: string): Promise<void> {
  await lab.exec(lab.ns.wan, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'gw']);
}

/** Connections that `uid` opens unbound to the internet host leave from `ip`. */
export async function snatUid(lab: Lab, uid: string, ip: string): Promise<void> {
  const internet = lab.description.internet.ip;
  await lab.exec(lab.ns.wan, ['nft', `table ip pgw_interop { chain post { type nat hook postrouting priority srcnat; policy accept; }; }`]);
  await lab.exec(lab.ns.wan, ['nft', `add rule ip pgw_interop post ip saddr ${internet} ip daddr ${internet} meta skuid "${uid}" snat to ${ip}`]);
}

export async function startOdd(lab: Lab, behaviour: OddBehaviour, ip: string, port: number, auth?: { username: string; password: string }): Promise<void> {
  const proc = await lab.spawn(lab.ns.wan, [process.execPath, ...TSX, ODD_SERVER, behaviour, ip, String(port)], {
    name: `odd-${behaviour}-${ip}`,
    ...(auth ? { env: { PGW_ODD_PROXY_AUTH: `${auth.username}:${auth.password}` } } : {}),
  });
  await waitProcessPort(proc, lab.ns.wan, ip, port, 10_000);
}

/** @pondwader/socks5-server as uid daemon (a group of that name exists, which setpriv needs) (its exit address comes from snatUid). */
export async function startNpmSocks5(lab: Lab, ip: string, port: number, auth?: { username: string; password: string }): Promise<void> {
  const proc = await lab.spawn(lab.ns.wan, [process.execPath, ...TSX, NPM_SERVER, ip, String(port)], {
    name: `npm-socks5-${ip}`,
    uid: 'daemon',
    ...(auth ? { env: { PGW_NPM_SOCKS_AUTH: `${auth.username}:${auth.password}` } } : {}),
  });
  await waitProcessPort(proc, lab.ns.wan, ip, port, 10_000);
}

/** squid 5 (runs as uid proxy) on ip:3128, leaving from ip; with auth, Basic against an NCSA file. */
export async function startSquid(lab: Lab, ip: string, auth?: { username: string; password: string }): Promise<InteropProxy> {
  const dir = join(lab.dir, `squid-${ip}`);
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 13, 13); // proxy:proxy (Debian's fixed uid/gid 13) writes its logs and pid here
  const lines = [
    `http_port ${ip}:3128`,
    `tcp_outgoing_address ${ip}`,
    'visible_hostname pgw-lab-squid',
    `pid_filename ${dir}/squid.pid`,
    `cache_log ${dir}/cache.log`,
    'access_log none',
    'cache deny all',
    'cache_mem 8 MB',
    `coredump_dir ${dir}`,
    'shutdown_lifetime 0 seconds',
  ];
  if (auth) {
    const hash = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: auth.password }).toString().trim();
    writeFileSync(join(dir, 'passwd'), `${auth.username}:${hash}\n`, { mode: 0o644 });
    lines.push(`auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`, 'acl authed proxy_auth REQUIRED', 'http_access allow authed');
  } else {
    lines.push('http_access allow all');
  }
  lines.push('http_access deny all');
  writeFileSync(join(dir, 'squid.conf'), `${lines.join('\n')}\n`, { mode: 0o644 });
  const proc = await lab.spawn(lab.ns.wan, ['/usr/sbin/squid', '-N', '-f', join(dir, 'squid.conf')], { name: `squid-${ip}` });
  await waitProcessPort(proc, lab.ns.wan, ip, 3128, 20_000);
  return { protocol: 'http', ip, port: 3128 };
}

/** privoxy 3 (as uid privoxy, no filtering) on ip:8118; privoxy has no proxy auth. */
export async function startPrivoxy(lab: Lab, ip: string): Promise<InteropProxy> {
  const dir = join(lab.dir, `privoxy-${ip}`);
  mkdirSync(dir, { recursive: true });
  chownSync(dir, Number(execFileSync('id', ['-u', 'privoxy']).toString()), 65534);
  writeFileSync(join(dir, 'config'), [`listen-address ${ip}:8118`, 'confdir /etc/privoxy', `logdir ${dir}`, 'toggle 0', 'enable-remote-toggle 0'].join('\n') + '\n', { mode: 0o644 });
  const proc = await lab.spawn(lab.ns.wan, ['/usr/sbin/privoxy', '--no-daemon', '--user', 'privoxy', join(dir, 'config')], { name: `privoxy-${ip}` });
  await waitProcessPort(proc, lab.ns.wan, ip, 8118, 10_000);
  await snatUid(lab, 'privoxy', ip);
  return { protocol: 'http', ip, port: 8118 };
}

/**
 * OpenSSH dynamic forwarding: an sshd on 127.0.0.1:2222 of the WAN namespace (root, key only) and
 * `ssh -N -D ip:1080` logged in to it. The SOCKS5 server is ssh's; the connections leave from the
 * sshd session (uid root, unbound), given ip by SNAT.
 */
export async function startSshDynamic(lab: Lab, ip: string): Promise<InteropProxy> {
  const dir = join(lab.dir, `sshd-${ip}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  for (const key of ['hostkey', 'id']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)]);
  execFileSync('cp', [join(dir, 'id.pub'), join(dir, 'authorized_keys')]);
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      'ListenAddress 127.0.0.1:2222',
      `HostKey ${dir}/hostkey`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
    ].join('\n') + '\n',
  );
  const sshd = await lab.spawn(lab.ns.wan, ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { name: `sshd-${ip}` });
  await waitProcessPort(sshd, lab.ns.wan, '127.0.0.1', 2222, 10_000);
  const ssh = await lab.spawn(
    lab.ns.wan,
    ['ssh', '-N', '-D', `${ip}:1080`, '-i', join(dir, 'id'), '-p', '2222', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ExitOnForwardFailure=yes', '-o', 'BatchMode=yes', 'root@127.0.0.1'],
    { name: `ssh-D-${ip}` },
  );
  await waitProcessPort(ssh, lab.ns.wan, ip, 1080, 10_000);
  await snatUid(lab, 'root', ip);
  return { protocol: 'socks5', ip, port: 1080 };
}
