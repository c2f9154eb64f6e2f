/** The uid of `name` in /etc/passwd text; throws naming the user when there is none. */
export function uidFromPasswd(passwd: string, name: string): number {
  for (const line of passwd.split('\n')) {
    const [user, , uid] = line.split(':');
    if (user === name && uid !== undefined && /^\d+$/.test(uid)) return Number(uid);
  }
  throw new Error(`user "${name}" does not exist`);
}

/** The primary gid of `name` in /etc/passwd text; throws naming the user when there is none. */
export function gidFromPasswd(passwd: string, name: string): number {
  for (const line of passwd.split('\n')) {
    const [user, , , gid] = line.split(':');
    if (user === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`user "${name}" does not exist`);
}
