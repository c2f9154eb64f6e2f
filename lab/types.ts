/** Public types of the lab. Implementation lives in one file per concept. */
import type { RedisService } from '@pgw/events';

export type ProxyKind = 'socks5' | 'socks5-auth' | 'http' | 'http-auth';

export interface Credentials {
  username: string;
  password: string;
}

/** A running (or stoppable/restartable) third-party proxy. */
export interface ProxyHandle {
  readonly kind: ProxyKind;
  readonly ns: string | undefined;
  readonly ip: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** e.g. socks5://user:pass@198.51.100.11:1080 or http://198.51.100.12:3128 */
  readonly url: string;
  /** pid of the running proxy, undefined while stopped. */
  readonly pid: number | undefined;
  readonly logFile: string;
  /** Graceful stop (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** SIGKILL, to simulate a crash. */
  kill(): Promise<void>;
  /** Start again with the same configuration; resolves once ready. */
  start(): Promise<void>;
  /** Resolves once the TCP port accepts connections (probed from inside the ns). */
  waitReady(timeoutMs?: number): Promise<void>;
}

/** A long-running process started by the lab (or a proxy starter). */
export interface LabProcess {
  readonly name: string;
  readonly pid: number;
  /** Kernel start time of pid (from /proc), guards against pid reuse when killing later. */
  readonly startTime: string;
  readonly logFile: string;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  isAlive(): boolean;
  /** SIGTERM to the process group, SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the process group. */
  kill(): Promise<void>;
}

export interface RedisHandle {
  readonly socketPath: string;
  /** PGW_REDIS_URL for a service: its own ACL user (@pgw/events redis-acl.ts); with `node`, that HA node's agent or forwarder user. */
  url(service: RedisService, node?: string): string;
  /**
   * An HA pair (issue 18): the agent and forwarder get one user per node, granted that node's keys
   * only, instead of the shared ones (the aclfile is rewritten and reloaded: ACL LOAD).
   */
  usePerNodeUsers(nodes: readonly string[]): Promise<void>;
  /** For test code only (seeding, inspecting any key); never given to a service. */
  readonly adminUrl: string;
  /** ioredis/BullMQ connection options for a service's user or the admin. */
  connection(who: RedisService | 'admin'): { path: string; username: string; password: string };
  readonly pid: number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface SpawnInLabOptions {
  env?: Record<string, string>;
  /** Run as this user (and its group) via setpriv, with supplementary groups cleared. */
  uid?: string;
  /** Capabilities (e.g. ['net_admin']) kept in the bounding, inheritable and ambient sets. */
  caps?: string[];
  /** Supplementary groups (instead of none). */
  groups?: string[];
  logFile?: string;
  cwd?: string;
  /** Name shown in status/state; defaults to the program's basename. */
  name?: string;
}

export interface ExecOptions {
  /** Default true: a non-zero exit throws. */
  reject?: boolean;
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface ExecResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export interface CaptureOptions {
  ns: string;
  iface: string;
  /** pcap filter expression, e.g. 'tcp port 80' */
  filter?: string;
}

export interface Capture {
  readonly file: string;
  /** Stops tcpdump and returns the decoded packet lines (`tcpdump -n -r`). */
  stop(): Promise<string[]>;
}

export interface HttpGetOptions {
  ns: string;
  url: string;
  /** Bind the request to this local address (curl --interface). */
  sourceIp?: string;
  /** socks5://, socks5h:// or http:// proxy; http proxies are used with CONNECT (--proxytunnel). */
  proxyUrl?: string;
  timeoutMs?: number;
}

export type HttpGetResult =
  | { ok: true; status: number; body: string }
  | { ok: false; error: string; exitCode: number | undefined };

export interface LabOptions {
  /** Number of LAN client addresses, 1..256 (default 4). */
  clients?: number;
  /** Proxies to start in the WAN ns (default socks5, socks5-auth, http). */
  proxies?: ProxyKind[];
  /** Keep processes running after this Node process exits (used by the CLI). No exit hooks. */
  detached?: boolean;
  /** Progress lines for long steps. */
  onProgress?: (line: string) => void;
  /**
   * The WAN namespace (the proxies' host) accepts TCP Fast Open on every listener, set before any
   * listens (the kernel applies it at listen()); `sysctl net.ipv4.tcp_fastopen` there turns it off
   * and on again later. Default off: the kernel's default, a proxy host that gives no cookie.
   */
  proxyHostFastOpen?: boolean;
}

export interface LabNamespaces {
  gateway: string;
  lan: string;
  wan: string;
  /** A second LAN host with its own MAC address (empty until Lab.addLanHost). */
  lanHost: string;
}

/** Serialisable description of a running lab (the CLI's state file). */
export interface LabDescription {
  id: string;
  dir: string;
  /** The process whose life bounds the lab (the test process, or for `lab up` its echo server). */
  ownerPid: number;
  ownerStartTime: string;
  namespaces: LabNamespaces;
  gateway: {
    lanIface: 'ens19';
    wanIface: 'eth0';
    /** 192.168.2.1, or 169.254.2.1 when the clients take the whole /24 */
    lanIp: string;
    lanIp6: string;
    wanIp: string;
  };
  lan: { iface: 'gw0'; clients: string[]; clientIp6: string };
  wan: { iface: 'gw'; routerIp: string };
  internet: { ip: string; httpPort: number; tcpEchoPort: number; iperfPort: number; echoUrl: string; udpEchoPort: number };
  /** The WAN's DNS server (lab/dns-server.ts), UDP and TCP. */
  dns: { ip: string; port: number };
  proxies: Array<{ kind: ProxyKind; ip: string; port: number; url: string; username?: string; password?: string; pid?: number }>;
  redis: { socketPath: string; pid?: number };
  processes: Array<{ name: string; pid: number; startTime: string; logFile: string }>;
}

export interface Lab {
  readonly id: string;
  readonly dir: string;
  readonly ns: LabNamespaces;
  readonly description: LabDescription;
  readonly clients: string[];
  readonly proxies: ProxyHandle[];
  readonly redis: RedisHandle;
  exec(ns: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  spawn(ns: string, argv: string[], opts?: SpawnInLabOptions): Promise<LabProcess>;
  capture(opts: CaptureOptions): Promise<Capture>;
  httpGet(opts: HttpGetOptions): Promise<HttpGetResult>;
  /**
   * Gives namespace ns.lanHost an interface on the LAN segment (a macvlan on the LAN's gw0) with
   * its own MAC address and `ip`, default route via the gateway: another machine on the LAN,
   * e.g. one that takes a client's address. Returns the MAC of the clients' own interface gw0.
   */
  addLanHost(ip: string, mac: string): Promise<{ clientsMac: string }>;
  destroy(): Promise<void>;
}
