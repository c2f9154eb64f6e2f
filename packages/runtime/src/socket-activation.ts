/** systemd passes its sockets from this descriptor on (sd_listen_fds(3)). */
const FIRST_FD = 3;
/** More than any unit of ours names; a larger count is a malformed variable, not sockets. */
const MAX_FDS = 64;

/**
 * The listening sockets systemd's socket activation handed to this process (a `.socket` unit), as
 * descriptors, and [] when it handed none to this very process (LISTEN_PID names another: an
 * environment inherited from a parent). As sd_listen_fds(unset_environment=1) does, the variables
 * are removed, so that no child of ours takes descriptors that are not its own. Throws on values
 * that do not say how many sockets there are, naming the variable.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number[] {
  const { LISTEN_PID: forPid, LISTEN_FDS: count } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (count === undefined) return [];
  if (forPid === undefined) throw new Error('LISTEN_FDS without LISTEN_PID: not from systemd, refusing to guess whose sockets these are');
  if (!/^[1-9]\d*$/.test(forPid)) throw new Error(`LISTEN_PID must be a process id, got '${forPid}'`);
  if (!/^\d+$/.test(count) || Number(count) > MAX_FDS) throw new Error(`LISTEN_FDS must be a count of sockets (0-${MAX_FDS}), got '${count}'`);
  if (Number(forPid) !== pid) return [];
  return Array.from({ length: Number(count) }, (_, i) => FIRST_FD + i);
}
