// The sandbox's key material, made once with openssl (Node cannot issue X.509 certificates): a CA,
// the sandbox's TLS certificate, the merchant's API certificate (apiclient_cert.pem, for mutual TLS
// and v3 request signatures), a platform certificate and a WeChat Pay public key (PUB_KEY_ID_…), the
// two kinds of key that sign answers and callbacks. Made in a temporary folder and renamed into
// place, so processes starting together never see half of it.
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const sandboxPublicKeyId = 'PUB_KEY_ID_0119000001092025112200000000000001';

function make(dir: string, mchid: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) =>
    ssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}_key.pem`);
  const issue = (name: string, subject: string, ext: string) => {
    key(name);
    ssl('req', '-new', '-key', `${name}_key.pem`, '-subj', subject, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca_cert.pem',
      '-CAkey',
      'ca_key.pem',
      '-CAcreateserial',
      '-days',
      '1825',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}_cert.pem`,
    );
  };
  key('ca');
  ssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca_key.pem',
    '-subj',
    '/CN=WeChat Pay sandbox CA',
    '-days',
    '3650',
    '-out',
    'ca_cert.pem',
  );
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  issue('apiclient', `/CN=${mchid}/O=sandbox merchant`, 'extendedKeyUsage=clientAuth\n');
  issue('platform', '/CN=Tenpay.com Root CA sandbox platform', 'keyUsage=digitalSignature,keyEncipherment\n');
  key('pubkey');
  writeFileSync(
    join(dir, 'pubkey.pem'),
    createPublicKey(readFileSync(join(dir, 'pubkey_key.pem'))).export({ type: 'spki', format: 'pem' }),
  );
}

/** The folder holding the material (made if missing); file names as in `files`. */
export function ensureSandboxCerts(dir: string, mchid: string): string {
  if (existsSync(join(dir, 'pubkey.pem'))) return dir;
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    make(tmp, mchid);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'pubkey.pem'))) throw err;
  }
  return dir;
}

export const serialOf = (certPem: Buffer | string): string => new X509Certificate(certPem).serialNumber.toUpperCase();
