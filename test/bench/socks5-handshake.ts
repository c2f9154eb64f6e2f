import type { ProxyHandshake } from '@pgw/domain';

/**
 * The SOCKS5 handshake a bench's pgw rows dial dante with, as if the health probe had learned it
 * (the benches run without the health service): PGW_BENCH_SOCKS5_HANDSHAKE, default early-data,
 * which is what the probe learns for dante (the interop matrix, docs/OPERATIONS.md).
 */
export function benchSocks5Handshake(): Exclude<ProxyHandshake, 'sequential'> {
  const raw = process.env.PGW_BENCH_SOCKS5_HANDSHAKE ?? 'early-data';
  if (raw === 'early-data' || raw === 'pipelined') return raw;
  throw new Error(`PGW_BENCH_SOCKS5_HANDSHAKE must be early-data or pipelined, got ${JSON.stringify(raw)}`);
}
