/**
 * Crafted-SYN prober: a LAN host that sends bare TCP SYNs with any destination (127.0.0.1 too) as
 * raw Ethernet frames to the gateway's MAC, the way an attacker on the LAN would, and reports every
 * SYN-ACK that comes back. A SYN-ACK means a socket of the gateway accepted a connection from the
 * LAN; a RST or nothing means none did. No handshake is ever completed (the LAN kernel resets the
 * SYN-ACK, as no socket of its own sent the SYN), so the prober holds nothing open on the gateway.
 * Runs as one python3 process (AF_PACKET) in the LAN namespace, sending one SYN every intervalMs
 * round-robin over its targets until stopped or maxSeconds, whichever comes first.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { execIn } from './netns.js';

export interface SynTarget {
  readonly src: string;
  readonly dst: string;
  readonly port: number;
}

/** The first SYN-ACK the gateway sent to a probe (its retransmissions are not reported again). */
export interface SynAnswer extends SynTarget {
  /** Source address and port of the SYN-ACK (the original destination, after any un-NAT). */
  readonly from: string;
  readonly fromPort: number;
  /** Date.now() when the probe's SYN was sent, and when its SYN-ACK arrived. */
  readonly sentAt: number;
  readonly at: number;
}

/** Source ports of the probes: outside Linux's default ephemeral range, so no reply is mistaken. */
const FIRST_SPORT = 61000;
const SPORTS = 4000;

const SCRIPT = String.raw`
import json, os, select, socket, struct, sys, time
cfg = json.loads(sys.argv[1])
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
s.bind((cfg['iface'], ETH_P_IP))
s.setblocking(False)
eth = bytes.fromhex(cfg['dstMac'].replace(':', '')) + bytes.fromhex(cfg['srcMac'].replace(':', '')) + b'\x08\x00'
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
def frame(src, dst, sport, dport, ident):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, ident & 0xffffffff, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), ident & 0xffff, 0x4000, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return eth + ip + tcp
def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n'); sys.stdout.flush()
targets, nxt, sent, synack, retrans, rst, seq = [], 0, 0, 0, 0, 0, 0
# Each probe's sequence number is its own counter: a SYN-ACK's ack names the probe it answers.
probes = {}
answered = set()
interval = cfg['intervalMs'] / 1000.0
deadline = time.time() + cfg['maxSeconds']
next_send = time.time()
next_stats = time.time()
stdin_buf = b''
out({'ready': True})
while time.time() < deadline:
    now = time.time()
    if targets and now >= next_send:
        src, dst, port = targets[nxt % len(targets)]
        nxt += 1
        sport = ${FIRST_SPORT} + seq % ${SPORTS}
        seq += 1
        probes[seq] = (src, dst, port, now * 1000)
        probes.pop(seq - 200000, None)
        try:
            s.send(frame(src, dst, sport, port, seq))
            sent += 1
        except OSError as e:
            out({'error': 'send ' + str(e)})
        next_send = max(next_send + interval, now - interval)
    if now >= next_stats:
        out({'stats': {'sent': sent, 'synack': synack, 'retrans': retrans, 'rst': rst}, 'at': now * 1000})
        next_stats = now + 0.1
    wait = max(0.0, min(next_send if targets else now + 0.05, next_stats) - time.time())
    readable, _, _ = select.select([s, 0], [], [], wait)
    if 0 in readable:
        chunk = os.read(0, 65536)
        if not chunk: break
        stdin_buf += chunk
        while b'\n' in stdin_buf:
            line, stdin_buf = stdin_buf.split(b'\n', 1)
            command = json.loads(line)
            targets = [tuple(t) for t in command['targets']]
            interval = command.get('intervalMs', cfg['intervalMs']) / 1000.0
            next_send = time.time()
            out({'targets': len(targets)})
    if s in readable:
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING or len(data) < 14 + 40: continue
            ip = data[14:]
            ihl = (ip[0] & 0x0f) * 4
            if ip[9] != 6: continue
            src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
            sport, dport, _, ack = struct.unpack('!HHII', ip[ihl:ihl + 12])
            flags = ip[ihl + 13]
            if not (${FIRST_SPORT} <= dport < ${FIRST_SPORT + SPORTS}): continue
            if flags & 0x12 == 0x12:
                probe = probes.get((ack - 1) & 0xffffffff)
                if probe is None or probe[0] != dst: continue
                # A half-open connection on the gateway retransmits its SYN-ACK for a minute: counted once.
                if ack - 1 in answered:
                    retrans += 1
                    continue
                answered.add(ack - 1)
                synack += 1
                out({'synack': {'src': dst, 'dst': probe[1], 'port': probe[2], 'from': src, 'fromPort': sport, 'sentAt': probe[3], 'at': time.time() * 1000}})
            elif flags & 0x04:
                rst += 1
out({'stats': {'sent': sent, 'synack': synack, 'retrans': retrans, 'rst': rst}, 'at': time.time() * 1000, 'end': True})
`;

interface StatsPoint {
  at: number;
  sent: number;
}

export class SynProber {
  readonly answers: SynAnswer[] = [];
  private readonly stats: StatsPoint[] = [];
  private readonly errors: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly acks: (() => void)[] = [];
  readonly ready: Promise<void>;

  private constructor(ns: string, config: Record<string, unknown>) {
    this.child = spawn('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-u', '-c', SCRIPT, JSON.stringify(config)]);
    let stderr = '';
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let markReady!: () => void;
    let fail!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      fail = reject;
    });
    this.child.once('exit', (code) => fail(new Error(`SYN prober exited (${code}): ${stderr.trim()}`)));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: boolean; synack?: SynAnswer; stats?: { sent: number }; at?: number; targets?: number; error?: string };
      if (message.ready) markReady();
      if (message.synack) this.answers.push(message.synack);
      if (message.stats) this.stats.push({ at: message.at!, sent: message.stats.sent });
      if (message.targets !== undefined) this.acks.shift()?.();
      if (message.error) this.errors.push(message.error);
    });
  }

  /**
   * Starts a prober on the LAN interface of namespace `lanNs`, framing SYNs to the MAC of the
   * gateway's LAN interface.
   */
  static async start(opts: { lanNs: string; lanIface: string; gatewayNs: string; gatewayIface: string; intervalMs: number; maxSeconds: number }): Promise<SynProber> {
    const mac = async (ns: string, iface: string) => (JSON.parse((await execIn(ns, ['ip', '-j', 'link', 'show', iface])).stdout) as { address: string }[])[0]!.address;
    const prober = new SynProber(opts.lanNs, {
      iface: opts.lanIface,
      srcMac: await mac(opts.lanNs, opts.lanIface),
      dstMac: await mac(opts.gatewayNs, opts.gatewayIface),
      intervalMs: opts.intervalMs,
      maxSeconds: opts.maxSeconds,
    });
    await prober.ready;
    return prober;
  }

  /**
   * Replaces the targets (round robin from now on), one SYN every intervalMs (default: the start's);
   * resolves once the prober took them.
   */
  setTargets(targets: readonly SynTarget[], intervalMs?: number): Promise<void> {
    return new Promise((resolve) => {
      this.acks.push(resolve);
      this.child.stdin.write(JSON.stringify({ targets: targets.map((t) => [t.src, t.dst, t.port]), ...(intervalMs ? { intervalMs } : {}) }) + '\n');
    });
  }

  /** Answers to the probes sent in [from, to] (Date.now() values). */
  answersBetween(from: number, to: number): SynAnswer[] {
    return this.answers.filter((a) => a.sentAt >= from && a.sentAt <= to);
  }

  /** SYNs sent in [from, to], from the prober's counters (reported every 100 ms). */
  sentBetween(from: number, to: number): number {
    const at = (t: number) => [...this.stats].reverse().find((p) => p.at <= t)?.sent ?? 0;
    return at(to) - at(from);
  }

  /** Send errors so far (a prober that cannot send proves nothing). */
  sendErrors(): readonly string[] {
    return this.errors;
  }

  stop(): void {
    this.child.stdin.end();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}
