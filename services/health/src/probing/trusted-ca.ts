import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle (PGW_HEALTH_CA_FILE). Throws an Error naming what is wrong:
 * no certificate at all, or which one does not parse.
 */
export function parseCaBundle(pem: string): string[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error('contains no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate: ${(error as Error).message}`);
    }
  }
  return blocks;
}

/**
 * What the probe's TLS trusts: the operator's CAs in addition to Node's public roots, so a
 * private check URL works and a public one set later in the console still does.
 */
export function trustedCaList(extra: readonly string[]): string[] {
  return [...rootCertificates, ...extra];
}
