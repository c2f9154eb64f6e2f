import { binding } from './binding.js';

export interface TunDevice {
  /** Non-blocking: each fs.readSync is one IP packet (EAGAIN when none is queued), each fs.writeSync injects one. */
  readonly fd: number;
  /** Stops watching and closes the descriptor (the device stays, as `ip tuntap` made it). */
  close(): void;
}

/**
 * Attaches to the existing TUN device `name` (made by `ip tuntap add <name> mode tun`), calling
 * onReadable whenever packets are queued. For the benches' delay line; needs CAP_NET_ADMIN in
 * the device's namespace.
 */
export function openTun(name: string, onReadable: () => void): TunDevice {
  const fd = binding.openTun(name);
  let watcher: { close(): void } | null = new binding.FdWatcher(fd, onReadable);
  return {
    fd,
    close() {
      if (watcher === null) return;
      watcher.close();
      watcher = null;
      binding.closeFd(fd);
    },
  };
}
