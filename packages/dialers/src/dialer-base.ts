import type { Socket } from 'node:net';
import type { ProxyEndpoint, ProxyProtocol } from '@pgw/domain';
import { DialError } from './dial-error.js';
import { type Exchange, runHandshake, withContext } from './handshake.js';
import { type HandshakePlan, planOf } from './handshake-plan.js';
import { checkTarget } from './target.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';

/** Plans kept per proxy; past this many all are forgotten at once (a scan of many destinations cannot grow it). */
const PLANS_MAX = 1024;

/**
 * What every protocol's dialer shares: the target check, a per-proxy cache of what only depends
 * on the proxy's credentials (greeting and auth bytes, the Proxy-Authorization line), errors with
 * proxy and target, and the connect/timeout/abort/proxy-address handling of runHandshake. A
 * protocol says only which exchanges a dial runs.
 */
export abstract class ProxyDialer<Prepared> implements Dialer {
  abstract readonly protocol: ProxyProtocol;
  /** Named in errors: "SOCKS5 auth: ...". */
  protected abstract readonly protocolName: string;
  // Keyed by the endpoint object: the forwarder keeps one per proxy while its credentials stay the same.
  private readonly prepared = new WeakMap<ProxyEndpoint, Prepared>();
  /**
   * Plans by proxy (the same object while its credentials stay the same), handshake and target:
   * clients go to the same few destinations again and again, and building a plan (checking and
   * parsing the address, the request's buffer, the stages) took 14-25 µs of a cold cache on every
   * connection's path to its CONNECT (docs/benchmarks.md, session 15). A plan is never written to.
   */
  private readonly plans = new WeakMap<ProxyEndpoint, Map<string, HandshakePlan>>();

  /** Computes the per-proxy part once; throws DialError('invalid_request') for unusable credentials. */
  protected abstract prepare(proxy: ProxyEndpoint): Prepared;

  /** The exchanges of one dial to `target` (the target has passed checkTarget). */
  protected abstract exchanges(prepared: Prepared, target: DialTarget, options: DialOptions): readonly Exchange[];

  /** The exchanges of open(): everything before the CONNECT (none for HTTP). */
  protected abstract openExchanges(prepared: Prepared, options: DialOptions): readonly Exchange[];

  /** The exchange of connectOn(): the CONNECT to `target` alone. */
  protected abstract connectExchanges(prepared: Prepared, target: DialTarget): readonly Exchange[];

  dial(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket> {
    let exchanges: readonly Exchange[];
    try {
      checkTarget(target);
      exchanges = this.exchanges(this.preparedFor(proxy), target, options);
    } catch (error) {
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, target) : error);
    }
    return runHandshake(proxy, target, options, this.protocolName, exchanges);
  }

  open(proxy: ProxyEndpoint, options: DialOptions): Promise<Socket> {
    let exchanges: readonly Exchange[];
    try {
      exchanges = this.openExchanges(this.preparedFor(proxy), options);
    } catch (error) {
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, null) : error);
    }
    return runHandshake(proxy, null, options, this.protocolName, exchanges);
  }

  connectOn(socket: Socket, proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket> {
    let exchanges: readonly Exchange[];
    try {
      checkTarget(target);
      exchanges = this.connectExchanges(this.preparedFor(proxy), target);
    } catch (error) {
      socket.destroy();
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, target) : error);
    }
    return runHandshake(proxy, target, options, this.protocolName, exchanges, socket);
  }

  /**
   * The exchanges dial() would run (onWarm: connectOn()'s, the CONNECT alone) as a plan for a dial
   * run elsewhere (handshake-plan.ts). Throws what dial() would reject with before any packet.
   */
  plan(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions, onWarm: boolean): HandshakePlan {
    // Early data in the request makes the plan one dial's own.
    const key = options.earlyData === undefined || options.earlyData.length === 0 ? `${onWarm ? 'warm' : (options.handshake ?? '')} ${target.host} ${target.port}` : null;
    const known = key === null ? undefined : this.plans.get(proxy)?.get(key);
    if (known !== undefined) return known;
    let plan: HandshakePlan;
    try {
      checkTarget(target);
      const prepared = this.preparedFor(proxy);
      const exchanges = onWarm ? this.connectExchanges(prepared, target) : this.exchanges(prepared, target, options);
      plan = planOf(this.protocol, proxy, this.protocolName, exchanges);
    } catch (error) {
      throw error instanceof DialError ? withContext(error, proxy, target) : error;
    }
    return key === null ? plan : this.keepPlan(proxy, key, plan);
  }

  /** The exchanges open() would run (greeting and auth; none for HTTP), as plan() does for dial(); kept as plan() keeps its own. */
  openPlan(proxy: ProxyEndpoint, options: DialOptions): HandshakePlan {
    const key = `open ${options.handshake ?? ''}`;
    const known = this.plans.get(proxy)?.get(key);
    if (known !== undefined) return known;
    let plan: HandshakePlan;
    try {
      plan = planOf(this.protocol, proxy, this.protocolName, this.openExchanges(this.preparedFor(proxy), options));
    } catch (error) {
      throw error instanceof DialError ? withContext(error, proxy, null) : error;
    }
    return this.keepPlan(proxy, key, plan);
  }

  private keepPlan(proxy: ProxyEndpoint, key: string, plan: HandshakePlan): HandshakePlan {
    let plans = this.plans.get(proxy);
    if (plans === undefined) this.plans.set(proxy, (plans = new Map()));
    else if (plans.size >= PLANS_MAX) plans.clear();
    plans.set(key, plan);
    return plan;
  }

  private preparedFor(proxy: ProxyEndpoint): Prepared {
    let prepared = this.prepared.get(proxy);
    if (prepared === undefined) {
      prepared = this.prepare(proxy);
      this.prepared.set(proxy, prepared);
    }
    return prepared;
  }
}
