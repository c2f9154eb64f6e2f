import { Counter, Gauge, type Registry } from 'prom-client';
import type { UdpRelay } from '../udp/udp-relay.js';

/** The UDP relay's metrics (TPROXY mode, issue 15): copied from its plain counters at scrape time. */
export function registerUdpMetrics(registry: Registry, relay: UdpRelay): void {
  const { stats } = relay;
  new Gauge({
    name: 'pgw_forwarder_udp_flows',
    help: 'Client UDP flows (client ip:port) with an association open or opening',
    registers: [registry],
    collect() {
      this.set(relay.flowCount);
    },
  });
  new Counter({
    name: 'pgw_forwarder_udp_datagrams_total',
    help: 'Datagrams relayed; direction up = client to proxy, down = proxy to client',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'up' }, stats.datagramsUp);
      this.inc({ direction: 'down' }, stats.datagramsDown);
    },
  });
  new Counter({
    name: 'pgw_forwarder_udp_bytes_total',
    help: 'UDP payload bytes relayed, by direction',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'up' }, stats.bytesUp);
      this.inc({ direction: 'down' }, stats.bytesDown);
    },
  });
  new Counter({
    name: 'pgw_forwarder_udp_dropped_total',
    help: 'Client datagrams not relayed (never sent directly), by reason: proxy_without_udp (HTTP proxy), associate_failed, blocked, unmapped, limit_*, dns_* (DNS over TCP), ...',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of stats.dropped) this.inc({ reason }, count);
    },
  });
  new Counter({
    name: 'pgw_forwarder_udp_dns_over_tcp_total',
    help: 'Client UDP DNS queries answered over TCP through the proxy (dnsMode proxy, proxies without UDP); truncated: answered with TC=1 (too large for the client over UDP)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'answered' }, stats.dnsOverTcpAnswered - stats.dnsOverTcpTruncated);
      this.inc({ outcome: 'truncated' }, stats.dnsOverTcpTruncated);
    },
  });
  new Gauge({
    name: 'pgw_forwarder_udp_dns_over_tcp_queries',
    help: 'Client DNS queries in flight over TCP through the proxy',
    registers: [registry],
    collect() {
      this.set(relay.dnsOverTcpQueries);
    },
  });
  new Counter({
    name: 'pgw_forwarder_udp_associations_total',
    help: 'SOCKS5 UDP associations asked for (one per client flow), by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'started' }, stats.associationsStarted);
      this.inc({ outcome: 'failed' }, stats.associationsFailed);
    },
  });
}
