import { fileURLToPath } from 'node:url';

const ECHO_SERVER = fileURLToPath(new URL('./echo-server.ts', import.meta.url));

/** argv that runs the IP-echo server (GET /ip, TCP echo) on ip, e.g. inside a namespace via lab.spawn. */
export function echoServerArgv(ip: string, httpPort: number, tcpEchoPort: number): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), ECHO_SERVER, ip, String(httpPort), String(tcpEchoPort)];
}
