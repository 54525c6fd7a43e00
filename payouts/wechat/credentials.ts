// The merchant's key material, read from files: the API certificate and its private key (v3
// request signatures, v2 mutual TLS), the keys that verify WeChat Pay (platform certificates and/or
// the WeChat Pay public key with its PUB_KEY_ID, side by side during a migration), and an optional
// CA for a server that is not publicly trusted (the sandbox).
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface CredentialFiles {
  certFile: string;
  keyFile: string;
  platformCertFiles: string[];
  publicKeyFile?: string;
  publicKeyId?: string;
  caFile?: string;
}

export interface Credentials {
  serial: string;
  privateKey: KeyObject;
  platformKeys: Map<string, KeyObject>;
  /** The serial sensitive fields are encrypted for: the public key's id when there is one (WeChat's advice), else the newest certificate. */
  encryptSerial: string;
  tls: { cert: Buffer; key: Buffer; ca?: Buffer };
}

export function loadCredentials(files: CredentialFiles): Credentials {
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  const platform = files.platformCertFiles.map((f) => new X509Certificate(readFileSync(f)))
    .sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom));
  const platformKeys = new Map<string, KeyObject>(platform.map((c) => [c.serialNumber.toUpperCase(), c.publicKey]));
  if (files.publicKeyFile && files.publicKeyId) platformKeys.set(files.publicKeyId, createPublicKey(readFileSync(files.publicKeyFile)));
  const encryptSerial = files.publicKeyFile && files.publicKeyId ? files.publicKeyId : platform[0]?.serialNumber.toUpperCase();
  if (!encryptSerial) throw new Error('no key verifies WeChat Pay: configure a platform certificate or the WeChat Pay public key');
  return {
    serial: new X509Certificate(cert).serialNumber.toUpperCase(), privateKey: createPrivateKey(key), platformKeys, encryptSerial,
    tls: { cert, key, ...(files.caFile ? { ca: readFileSync(files.caFile) } : {}) },
  };
}
