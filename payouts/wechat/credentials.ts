// The merchant's key material, read from files: the API certificate and its private key (v3
// request signatures, v2 mutual TLS), as a PEM pair or as WeChat's apiclient_cert.p12; the keys
// that verify WeChat Pay (platform certificates and/or the WeChat Pay public key with its
// PUB_KEY_ID, side by side during a migration); and an optional CA for a server that is not
// publicly trusted (the sandbox).
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

export interface CredentialFiles {
  certFile: string;
  keyFile: string;
  /** apiclient_cert.p12 instead of the PEM pair; its passphrase is the mchid. */
  p12?: { file: string; passphrase: string };
  platformCertFiles: string[];
  publicKeyFile?: string;
  publicKeyId?: string;
  caFile?: string;
  /**
   * Whether `caFile` is the only trust (the sandbox) or is added to the system's roots (the default:
   * production WeChat is under public CAs, and a private CA must never take their place there).
   */
  caReplacesRoots?: boolean;
}

export interface Credentials {
  serial: string;
  privateKey: KeyObject;
  platformKeys: Map<string, KeyObject>;
  /** The serial sensitive fields are encrypted for: the public key's id when there is one (WeChat's advice), else the newest certificate ('' when none is configured). */
  encryptSerial: string;
  tls: { cert: Buffer; key: Buffer; ca?: (string | Buffer)[] };
}

/**
 * The certificate and key in a PKCS#12 file, through openssl (Node reads PKCS#12 only into a TLS
 * context, and v3 signatures need the key itself). WeChat's files use RC2, which OpenSSL 3 reads
 * only with -legacy, so that is tried second.
 */
export function readP12(file: string, passphrase: string): { cert: Buffer; key: Buffer } {
  let last: unknown;
  for (const legacy of [[], ['-legacy']]) {
    try {
      const pem = execFileSync(
        'openssl',
        ['pkcs12', '-in', file, '-nodes', '-passin', `pass:${passphrase}`, ...legacy],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ).toString();
      const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
      const key = /-----BEGIN (?:RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA )?PRIVATE KEY-----/.exec(pem)?.[0];
      if (cert && key) return { cert: Buffer.from(`${cert}\n`), key: Buffer.from(`${key}\n`) };
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`cannot read the certificate and key in ${file}`, { cause: last });
}

export function loadCredentials(files: CredentialFiles): Credentials {
  const { cert, key } = files.p12
    ? readP12(files.p12.file, files.p12.passphrase)
    : { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  const platform = files.platformCertFiles
    .map((f) => new X509Certificate(readFileSync(f)))
    .sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom));
  const platformKeys = new Map<string, KeyObject>(platform.map((c) => [c.serialNumber.toUpperCase(), c.publicKey]));
  if (files.publicKeyFile && files.publicKeyId)
    platformKeys.set(files.publicKeyId, createPublicKey(readFileSync(files.publicKeyFile)));
  // With neither, the platform certificates are downloaded at start (v3 refreshCertificates).
  const encryptSerial =
    files.publicKeyFile && files.publicKeyId ? files.publicKeyId : (platform[0]?.serialNumber.toUpperCase() ?? '');
  return {
    serial: new X509Certificate(cert).serialNumber.toUpperCase(),
    privateKey: createPrivateKey(key),
    platformKeys,
    encryptSerial,
    tls: {
      cert,
      key,
      ...(files.caFile ? { ca: [...(files.caReplacesRoots ? [] : rootCertificates), readFileSync(files.caFile)] } : {}),
    },
  };
}
