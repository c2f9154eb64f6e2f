import { isIP } from 'node:net';

/** An IP-echo answer is small; anything longer is not one (and is not read further). */
export const MAX_ECHO_BODY_BYTES = 4096;

const SHOWN = 60;

/**
 * The exit IP from an IP-echo body: JSON `{"ip":"203.0.113.7"}` or the address as plain text.
 * Throws an Error naming what is wrong, with a printable excerpt of the body.
 */
export function parseEchoBody(body: string): string {
  const text = body.trim();
  let candidate: unknown = text;
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`check URL answered invalid JSON: "${excerpt(text)}"`);
    }
    if (typeof parsed !== 'object' || parsed === null || !('ip' in parsed)) {
      throw new Error(`check URL answered JSON without an "ip" field: "${excerpt(text)}"`);
    }
    candidate = parsed.ip;
  }
  if (typeof candidate !== 'string' || isIP(candidate) === 0) {
    throw new Error(`check URL answer is not an IP address (expected {"ip":"..."} or a plain-text IP): "${excerpt(text)}"`);
  }
  return candidate;
}

function excerpt(text: string): string {
  const shown = text.slice(0, SHOWN).replace(/[^\x20-\x7e]/g, '?');
  return text.length > SHOWN ? `${shown}...` : shown;
}
