import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { parseCaBundle, trustedCaList } from './trusted-ca.js';

const ROOT = rootCertificates[0]!;

describe('parseCaBundle', () => {
  it('returns every certificate of a bundle, text around them ignored', () => {
    assert.deepEqual(parseCaBundle(`# my CA\n${ROOT}\nsome comment\n${rootCertificates[1]}\n`), [ROOT, rootCertificates[1]]);
  });
  it('names a file without certificates', () => {
    assert.throws(() => parseCaBundle('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), /contains no PEM certificate/);
  });
  it('names which certificate does not parse', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----';
    assert.throws(() => parseCaBundle(`${ROOT}\n${broken}`), /certificate 2 of 2 is not a valid X\.509 certificate/);
  });
});

describe('trustedCaList', () => {
  it('adds the operator CAs to the public roots', () => {
    const list = trustedCaList([ROOT]);
    assert.equal(list.length, rootCertificates.length + 1);
    assert.equal(list.at(-1), ROOT);
  });
});
