// What this process's epolls are asked to report, read from /proc/self/fdinfo of each eventpoll:
// the kernel's own record of a registration, for tests that check which edges can wake a loop.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLRDHUP = 0x2000;

/** One registration: the epoll's own descriptor, the watched descriptor's number and file (inode), the events asked for. */
export interface EpollEntry {
  epoll: number;
  fd: number;
  inode: number;
  events: number;
}

/** Every registration in every epoll of this process. */
export function epollEntries(): EpollEntry[] {
  const entries: EpollEntry[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    let info: string;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) !== 'anon_inode:[eventpoll]') continue;
      info = readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
    } catch {
      continue; // closed while we looked
    }
    // "tfd:       10 events:       19 data:                a  pos:0 ino:d5 sdev:8"
    for (const line of info.matchAll(/^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+).*\bino:([0-9a-f]+)/gm)) {
      entries.push({ epoll: Number(name), fd: Number(line[1]), events: Number.parseInt(line[2]!, 16), inode: Number.parseInt(line[3]!, 16) });
    }
  }
  return entries;
}

/** The inode of the socket (or other file) behind descriptor `fd`: the same for each of its duplicates. */
export function inodeOf(fd: number): number {
  const target = readlinkSync(`/proc/self/fd/${fd}`);
  const inode = /\[(\d+)\]$/.exec(target)?.[1];
  if (inode === undefined) throw new Error(`descriptor ${fd} (${target}) names no inode`);
  return Number(inode);
}

/** The events descriptor `fd` (that number) is registered for in this process's epolls, null when in none. */
export function epollInterest(fd: number): number | null {
  return epollEntries().find((entry) => entry.fd === fd)?.events ?? null;
}

/** The registrations of the file behind `fd` under any descriptor number (a duplicate's too). */
export function epollInterestsOfFile(fd: number): EpollEntry[] {
  const inode = inodeOf(fd);
  return epollEntries().filter((entry) => entry.inode === inode);
}
