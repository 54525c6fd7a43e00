// APIv3's crypto (reference/wechatpay.md §3): SHA256withRSA request and response signatures over
// newline-terminated lines, AEAD_AES_256_GCM callback resources under the APIv3 key, and RSA-OAEP
// (SHA-1) for sensitive fields such as `user_name`.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createSign,
  createVerify,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

export const SCHEMA = 'WECHATPAY2-SHA256-RSA2048';
const message = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

export const signLines = (privateKey: KeyObject, lines: string[]): string =>
  createSign('RSA-SHA256').update(message(lines)).sign(privateKey, 'base64');

export const verifyLines = (publicKey: KeyObject, lines: string[], signature: string): boolean =>
  createVerify('RSA-SHA256').update(message(lines)).verify(publicKey, signature, 'base64');

export interface Merchant {
  mchid: string;
  serial: string;
  privateKey: KeyObject;
}

/** The Authorization header of a request: `path` includes the query string, `body` is the exact text sent. */
export function authorization(
  m: Merchant,
  req: { method: string; path: string; body: string },
  at: { timestampS: number; nonce?: string },
): string {
  const nonce = at.nonce ?? randomBytes(16).toString('hex').toUpperCase();
  const signature = signLines(m.privateKey, [req.method, req.path, String(at.timestampS), nonce, req.body]);
  return `${SCHEMA} mchid="${m.mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${at.timestampS}",serial_no="${m.serial}"`;
}

/** The parameters of an Authorization header, in any order; undefined when it is not this schema. */
export function parseAuthorization(header: string | undefined): Record<string, string> | undefined {
  if (!header?.startsWith(`${SCHEMA} `)) return undefined;
  return Object.fromEntries(
    [...header.slice(SCHEMA.length + 1).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
  );
}

export type VerifyResult =
  { ok: true } | { ok: false; reason: 'missing_headers' | 'stale_timestamp' | 'unknown_serial' | 'bad_signature' };
export const WINDOW_S = 300;

/**
 * Verifies a response or callback from its Wechatpay-* headers. `keys` maps serials to keys: platform
 * certificate serials and `PUB_KEY_ID_…` ids side by side, so both work during a migration.
 */
export function verifyWechatpay(
  headers: Record<string, string | undefined>,
  body: string,
  keys: ReadonlyMap<string, KeyObject>,
  nowS: number,
): VerifyResult {
  const [ts, nonce, signature, serial] = [
    'wechatpay-timestamp',
    'wechatpay-nonce',
    'wechatpay-signature',
    'wechatpay-serial',
  ].map((h) => headers[h]);
  if (!ts || !nonce || !signature || !serial) return { ok: false, reason: 'missing_headers' };
  if (!/^\d+$/.test(ts) || Math.abs(nowS - Number(ts)) >= WINDOW_S) return { ok: false, reason: 'stale_timestamp' };
  const key = keys.get(serial);
  if (!key) return { ok: false, reason: 'unknown_serial' };
  return verifyLines(key, [ts, nonce, body], signature) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** The Wechatpay-* headers for a response or callback body, signed with the platform key named `serial`. */
export function wechatpayHeaders(
  key: KeyObject,
  serial: string,
  body: string,
  timestampS: number,
): Record<string, string> {
  const nonce = randomBytes(16).toString('hex');
  return {
    'wechatpay-timestamp': String(timestampS),
    'wechatpay-nonce': nonce,
    'wechatpay-serial': serial,
    'wechatpay-signature': signLines(key, [String(timestampS), nonce, body]),
    'wechatpay-signature-type': SCHEMA,
  };
}

export interface Resource {
  algorithm: 'AEAD_AES_256_GCM';
  ciphertext: string;
  associated_data: string;
  nonce: string;
  original_type: string;
}

/** Decrypts a callback resource; throws when it was altered or sealed under another key. */
export function decryptResource(
  apiV3Key: string,
  r: Pick<Resource, 'ciphertext' | 'associated_data' | 'nonce'>,
): string {
  const data = Buffer.from(r.ciphertext, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(r.nonce, 'utf8'));
  decipher.setAAD(Buffer.from(r.associated_data, 'utf8'));
  decipher.setAuthTag(data.subarray(-16));
  return Buffer.concat([decipher.update(data.subarray(0, -16)), decipher.final()]).toString('utf8');
}

export function encryptResource(
  apiV3Key: string,
  plaintext: string,
  associatedData: string,
  originalType: string,
): Resource {
  const nonce = randomBytes(9).toString('base64url').slice(0, 12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString(
    'base64',
  );
  return {
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext,
    associated_data: associatedData,
    nonce,
    original_type: originalType,
  };
}

const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' } as const;
export const encryptSensitive = (publicKey: KeyObject, plaintext: string): string =>
  publicEncrypt({ key: publicKey, ...OAEP }, Buffer.from(plaintext, 'utf8')).toString('base64');
export const decryptSensitive = (privateKey: KeyObject, ciphertext: string): string =>
  privateDecrypt({ key: privateKey, ...OAEP }, Buffer.from(ciphertext, 'base64')).toString('utf8');

/** What wx.requestPayment signs (APIv3 JSAPI): the appid, a timestamp in seconds, a nonce and `prepay_id=<id>`. */
export interface JsapiPayFields {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
}
const payLines = (p: JsapiPayFields) => [p.appId, p.timeStamp, p.nonceStr, p.package];

/** The JSAPI paySign (signType 'RSA'): SHA256withRSA with the merchant key over `appId\ntimeStamp\nnonceStr\npackage\n`. */
export const jsapiPaySign = (privateKey: KeyObject, p: JsapiPayFields): string => signLines(privateKey, payLines(p));
/** Whether `paySign` is the merchant's over `p` (what WeChat checks, with the merchant certificate's key). */
export const verifyJsapiPaySign = (publicKey: KeyObject, p: JsapiPayFields, paySign: string): boolean =>
  verifyLines(publicKey, payLines(p), paySign);
