// The simulator's AdMob-style signing key: an ECDSA P-256 pair generated once into its directory
// (private key 0600), and the verifier-key list beside it in Google's published format, which the
// collector reads through INGEST_ADMOB_KEYS_URL=file://… in the demo and the tests.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface AdmobKey {
  keyId: number;
  privateKey: KeyObject;
  verifierFile: string;
  verifierUrl: string;
}

const PRIVATE = 'admob-private-key.pem';
const VERIFIER = 'verifier-keys.json';

/** The verifier-key list's path in `dir`, as a file:// URL (what INGEST_ADMOB_KEYS_URL takes). */
export const verifierKeysUrl = (dir: string) => pathToFileURL(join(dir, VERIFIER)).href;

/** A key id as AdMob's: a positive 32-bit number, here taken from the public key, so it never changes for one key. */
const keyIdOf = (spki: Buffer) => createHash('sha256').update(spki).digest().readUInt32BE(0) || 1;

function readOrCreatePrivate(dir: string): KeyObject {
  const file = join(dir, PRIVATE);
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    // 'wx': whoever comes second (npm start, then the simulator itself) keeps the first key.
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 });
    return privateKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return createPrivateKey(readFileSync(file));
  }
}

/** The key pair in `dir` (generated on first use) and a fresh verifier-key list for it. */
export function ensureAdmobKey(dir: string): AdmobKey {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKey = readOrCreatePrivate(dir);
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keyId = keyIdOf(spki);
  const base64 = spki.toString('base64');
  const pem = `-----BEGIN PUBLIC KEY-----\n${base64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----`;
  const verifierFile = join(dir, VERIFIER);
  const tmp = `${verifierFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ keys: [{ keyId, pem, base64 }] }, null, 2)}\n`);
  renameSync(tmp, verifierFile);
  return { keyId, privateKey, verifierFile, verifierUrl: verifierKeysUrl(dir) };
}
