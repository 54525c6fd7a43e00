import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSandboxCerts } from '../sandbox/certs.js';
import { sandboxMerchant } from '../sandbox/defaults.js';
import { rootCertificates } from 'node:tls';
import { loadCredentials } from './credentials.js';

const dir = ensureSandboxCerts(sandboxMerchant.certDir, sandboxMerchant.mchid);
const tmp = mkdtempSync(join(tmpdir(), 'p12-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const pem = {
  certFile: join(dir, 'apiclient_cert.pem'),
  keyFile: join(dir, 'apiclient_key.pem'),
  platformCertFiles: [join(dir, 'platform_cert.pem')],
};

describe('merchant credentials', () => {
  it.each([[[]], [['-legacy']]])(
    'reads apiclient_cert.p12 (openssl pkcs12 %j) like the PEM pair, with the mchid as passphrase',
    (flags) => {
      const p12 = join(tmp, `apiclient${flags.length}.p12`);
      execFileSync('openssl', [
        'pkcs12',
        '-export',
        ...flags,
        '-in',
        pem.certFile,
        '-inkey',
        pem.keyFile,
        '-passout',
        `pass:${sandboxMerchant.mchid}`,
        '-out',
        p12,
      ]);
      const fromPem = loadCredentials(pem);
      const fromP12 = loadCredentials({ ...pem, p12: { file: p12, passphrase: sandboxMerchant.mchid } });
      expect(fromP12.serial).toBe(fromPem.serial);
      expect(fromP12.privateKey.export({ format: 'pem', type: 'pkcs8' })).toBe(
        fromPem.privateKey.export({ format: 'pem', type: 'pkcs8' }),
      );
      expect(() => loadCredentials({ ...pem, p12: { file: p12, passphrase: 'wrong' } })).toThrow(/cannot read/);
    },
  );

  it('keeps the public key beside the platform certificates and encrypts for it', () => {
    const c = loadCredentials({ ...pem, publicKeyFile: join(dir, 'pubkey.pem'), publicKeyId: 'PUB_KEY_ID_1' });
    expect([...c.platformKeys.keys()]).toEqual([fromSerial(pem), 'PUB_KEY_ID_1']);
    expect(c.encryptSerial).toBe('PUB_KEY_ID_1');
  });
});

function fromSerial(files: typeof pem) {
  return loadCredentials(files).encryptSerial;
}

describe("trust for WeChat Pay's server", () => {
  // Production is under public CAs: a CA file configured there is added to the roots, never put in their place.
  it.each([
    ['adds the CA file to the system roots by default', undefined, rootCertificates.length + 1],
    ['trusts the CA file alone when it replaces the roots (the sandbox)', true, 1],
  ] as const)('%s', (_name, caReplacesRoots, n) => {
    const { tls } = loadCredentials({
      ...pem,
      caFile: join(dir, 'ca_cert.pem'),
      ...(caReplacesRoots === undefined ? {} : { caReplacesRoots }),
    });
    expect(tls.ca).toHaveLength(n);
    expect(String(tls.ca!.at(-1))).toContain('BEGIN CERTIFICATE');
  });
});
