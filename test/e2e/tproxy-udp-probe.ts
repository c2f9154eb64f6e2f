/**
 * Runs inside the lab's gateway namespace (tproxy-udp-associate.test.ts): one SOCKS5 UDP
 * association through the proxy given as JSON in argv[2], a UDP echo round trip and a
 * `whoami.pgw.test TXT` query through it; prints one JSON line with what came back.
 */
import { type DialError, Socks5UdpAssociation } from '@pgw/dialers';
import { proxyEndpointSchema } from '@pgw/domain';

interface Input {
  proxy: { protocol: 'socks5'; host: string; port: number; username?: string; password?: string };
  echo: { host: string; port: number };
  dns: { host: string; port: number };
}
const input = JSON.parse(process.argv[2]!) as Input;

/** A DNS query for whoami.pgw.test TXT (id 0x4242, RD). */
function whoamiQuery(): Buffer {
  const name = Buffer.concat('whoami.pgw.test'.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
  return Buffer.concat([Buffer.from([0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 0, 16, 0, 1])]);
}

/** The first TXT string of the answer to whoamiQuery(); null when it has no answer record. */
function txtOf(answer: Buffer): string | null {
  if (answer.length < 12 || answer.readUInt16BE(6) === 0) return null;
  let at = 12;
  while (answer[at] !== 0) at += 1 + answer[at]!;
  at += 1 + 4; // end of the name, type and class of the question
  at += 12; // the answer's name pointer, type, class, TTL and rdlength
  return answer.subarray(at + 1, at + 1 + answer[at]!).toString('latin1');
}

async function main(): Promise<void> {
  const replies = new Map<string, (data: Buffer) => void>();
  let association: Socks5UdpAssociation;
  try {
    association = await Socks5UdpAssociation.open(proxyEndpointSchema.parse(input.proxy), { timeoutMs: 3000 }, {
      onMessage: (data, from) => replies.get(`${from.address}:${from.port}`)?.(data),
      onClose: () => undefined,
    });
  } catch (error) {
    const e = error as DialError;
    console.log(JSON.stringify({ error: { reason: e.reason, message: e.message } }));
    return;
  }
  const ask = (target: { host: string; port: number }, data: Buffer) =>
    new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      replies.set(`${target.host}:${target.port}`, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      association.send(target, data);
    });
  const echo = await ask(input.echo, Buffer.from('pgw-udp-echo'));
  const dns = await ask(input.dns, whoamiQuery());
  association.close();
  console.log(JSON.stringify({ relay: association.relay, echo: echo?.toString() ?? null, txt: dns === null ? null : txtOf(dns) }));
}
await main();
