import { execIn } from './netns.js';

/**
 * Users pgw runs as: its services, and keepalived's checks of an HA node (DEFAULT_CHECK_USER of
 * deploy/keepalived). The lab creates them so tests can spawn services under them.
 */
export const PGW_SYSTEM_USERS = ['pgw', 'pgw-health', 'pgw-api', 'keepalived_script'] as const;

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
/** useradd/passwd take a lock on /etc/passwd that fails instead of waiting: serialise lab callers. */
/** In root's /run: flock creates it, and a name in /tmp could be another user's link. */
const LOCK_FILE = '/run/pgw-lab-users.lock';

export function validateUserName(name: string): void {
  if (!USER_NAME.test(name)) throw new Error(`invalid system user name ${JSON.stringify(name)}: expected ${USER_NAME}`);
}

async function userExists(name: string): Promise<boolean> {
  return (await execIn(undefined, ['id', '-u', name], { reject: false })).exitCode === 0;
}

async function addSystemUser(name: string): Promise<void> {
  validateUserName(name);
  if (await userExists(name)) return;
  const result = await execIn(
    undefined,
    ['flock', LOCK_FILE, 'sh', '-c', 'id -u "$0" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$0"', name],
    { reject: false },
  );
  if (result.exitCode !== 0) throw new Error(`useradd ${name} failed: ${result.stderr.trim()}`);
}

/** Idempotently creates the system users of PGW_SYSTEM_USERS. */
export async function ensureSystemUsers(): Promise<void> {
  for (const name of PGW_SYSTEM_USERS) await addSystemUser(name);
}

/**
 * Idempotently creates a login-less system user with this password, for dante's
 * `username` method (it checks the system password database on every client's login).
 * Hashed with SHA-512 (5000 rounds, ~1 ms to check), not PAM's default yescrypt: Debian 12's
 * yescrypt costs ~65 ms of dante's CPU per login on the lab machines, more than a whole round
 * trip of bench:rtt's delay line, so every SOCKS5 + auth figure would measure the hash function
 * (docs/benchmarks.md, session 17). A proxy's own password store is not what the lab tests.
 * The account is expired at once (1970-01-02): its password is in this repository, and on a host
 * whose sshd takes passwords it opened a session with TCP forwarding (a nologin shell does not stop
 * `ssh -N -D`) into the host's own namespace. PAM and sshd refuse an expired account; dante's
 * `username` method checks the password only.
 */
export async function ensurePasswordUser(username: string, password: string): Promise<void> {
  if (password.length === 0 || /[\n\r]/.test(password)) throw new Error(`invalid password for ${username}: empty or contains a line break`);
  await addSystemUser(username);
  const result = await execIn(undefined, ['flock', LOCK_FILE, 'chpasswd', '--crypt-method', 'SHA512', '--sha-rounds', '5000'], { input: `${username}:${password}\n`, reject: false });
  if (result.exitCode !== 0) throw new Error(`chpasswd for ${username} failed: ${result.stderr.trim()}`);
  const expired = await execIn(undefined, ['flock', LOCK_FILE, 'usermod', '--expiredate', '1', username], { reject: false });
  if (expired.exitCode !== 0) throw new Error(`usermod --expiredate for ${username} failed: ${expired.stderr.trim()}`);
}
