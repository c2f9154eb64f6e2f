import type { Lab } from '../../lab/index.js';

/**
 * A service's `/readyz` on the node's loopback, as pgw-ha-check.sh reads it: the body, then
 * ` HTTP <status>` (`ready\n HTTP 200`, or the reason and ` HTTP 503`).
 */
export async function readyzAnswer(lab: Lab, ns: string, port: number): Promise<string> {
  return (await lab.exec(ns, ['curl', '-s', '--max-time', '2', '-w', ' HTTP %{http_code}', `http://127.0.0.1:${port}/readyz`], { reject: false })).stdout;
}
