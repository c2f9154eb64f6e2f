// Which SOCKS5 handshake a proxy accepts, learned by the probe (proxy setting handshake_mode
// auto): pipelined first (one round trip for the forwarder), sequential when pipelining is not
// answered. A proxy is never reported down only because pipelining fails: that case is
// recognised precisely (the method selection came, then nothing: closed or silent for a short
// grace; see handshake.ts in @pgw/dialers) and dialed again sequentially within the same budget.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ProxyEndpoint, ProxyHandshake, ProxyHandshakeMode } from '@pgw/domain';
import { DialError, type DialOptions, type DialTarget, type Dialer } from '@pgw/dialers';

export interface HandshakePlan {
  readonly mode: ProxyHandshakeMode;
  /** What was learned before (handshake_learned). */
  readonly learned: ProxyHandshake | null;
}

export interface LearningDial {
  readonly socket: Socket;
  /** The handshake that worked, when this dial learned it (mode auto, SOCKS5); else null. */
  readonly learned: ProxyHandshake | null;
}

/**
 * How long a pipelined probe waits for anything after the method selection. A working proxy
 * answers the pipelined auth at once; without auth the CONNECT reply also waits for the proxy's
 * connection to the check target, so a slow target can make this misjudge: the price is the
 * sequential round trips, never a proxy reported down.
 */
export function pipelineGraceMs(timeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(timeoutMs / 4)));
}

/**
 * What a probe that fell back from early data learned (`learned`: what the fallback dial learned;
 * `before`: what was learned before this probe). A tunnel that stayed silent means the proxy dropped
 * the early bytes only if the first byte without them came within the same grace; when that byte
 * was slow too, the silence proves nothing and a proxy that had learned early-data keeps it. First
 * byte against first byte: over https the whole answer takes more round trips than the ServerHello
 * the silent tunnel never brought.
 */
export function learnedAfterEarlyData(before: ProxyHandshake | null, silent: boolean, learned: ProxyHandshake | null, firstByteMs: number, graceMs: number): ProxyHandshake | null {
  if (silent && learned === 'pipelined' && before === 'early-data' && firstByteMs >= graceMs) return 'early-data';
  return learned;
}

/** Dials as the plan says and, in mode auto, learns the handshake; rejects with the dial's DialError. */
export async function dialAndLearn(dialer: Dialer, proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, plan: HandshakePlan): Promise<LearningDial> {
  if (proxy.protocol !== 'socks5') return { socket: await dialer.dial(proxy, target, options), learned: null };
  const grace = pipelineGraceMs(options.timeoutMs);
  if (plan.mode !== 'auto') {
    // Forced: used as set, with nothing to fall back to, so no grace: it also ends a pipelined
    // CONNECT whose reply waits for a slow target (down, where the forwarder's clients get through).
    // A dropped pipelined CONNECT fails at the timeout, with an error that names pipelining.
    return { socket: await dialer.dial(proxy, target, { ...options, handshake: plan.mode }), learned: null };
  }
  if (plan.learned === 'sequential') {
    return { socket: await dialer.dial(proxy, target, { ...options, handshake: 'sequential' }), learned: 'sequential' };
  }
  const started = performance.now();
  try {
    return { socket: await dialer.dial(proxy, target, { ...options, handshake: 'pipelined', pipelineGraceMs: grace }), learned: 'pipelined' };
  } catch (error) {
    if (!(error instanceof DialError) || error.reason !== 'pipelining_unanswered') throw error;
    const remaining = Math.floor(options.timeoutMs - (performance.now() - started));
    if (remaining < 1) throw error;
    return { socket: await dialer.dial(proxy, target, { ...options, timeoutMs: remaining, handshake: 'sequential' }), learned: 'sequential' };
  }
}
