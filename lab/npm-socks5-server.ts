/**
 * A SOCKS5 server from npm (@pondwader/socks5-server, unchanged: its own handshake and connection
 * handler) for the interop matrix. Run as a program (inside a namespace via lab.spawn):
 *   node --import tsx lab/npm-socks5-server.ts <ip> <port>
 * with PGW_NPM_SOCKS_AUTH=user:password for username/password auth.
 */
import { isIP } from 'node:net';
import { createServer } from '@pondwader/socks5-server';

const [ip, port] = process.argv.slice(2);
if (!ip || isIP(ip) === 0) throw new Error(`npm-socks5-server: ${JSON.stringify(ip)} is not an IP address`);
if (!Number.isInteger(Number(port)) || Number(port) < 1 || Number(port) > 65535) throw new Error(`npm-socks5-server: ${JSON.stringify(port)} is not a port`);
const auth = process.env.PGW_NPM_SOCKS_AUTH;
const colon = auth?.indexOf(':') ?? -1;
const server = createServer(auth !== undefined && colon > 0 ? { auth: { username: auth.slice(0, colon), password: auth.slice(colon + 1) } } : {});
server.listen(Number(port), ip);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { server.close(); process.exit(0); });
