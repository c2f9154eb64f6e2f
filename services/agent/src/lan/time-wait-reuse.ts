import { setSysctl } from './lan-sysctl.js';

/**
 * net.ipv4.tcp_tw_reuse = 1 in the gateway's namespace: a new outgoing connection may take a local
 * port whose earlier connection to the same peer is in TIME_WAIT (for at least a second, told apart
 * by TCP timestamps). The relay closes toward the proxy first whenever its client did, so every
 * short client connection leaves one such port for 60 s; the kernel's default (2: loopback only)
 * let one client churning short connections spend the whole ip_local_port_range toward a proxy that
 * others share, and every new connection to it failed (EADDRNOTAVAIL) for a minute. Hardening, not
 * a layer: a namespace where it cannot be written is told, and relaying goes on.
 */
export async function allowTimeWaitReuse(procSys = '/proc/sys'): Promise<string | null> {
  try {
    await setSysctl(`${procSys}/net/ipv4/tcp_tw_reuse`, '1');
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
