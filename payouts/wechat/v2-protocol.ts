// APIv2's wire format (reference/wechatpay.md §1): flat XML under <xml>, signed with MD5 or
// HMAC-SHA256 over the non-empty parameters sorted by name, joined as k=v&..., then `&key=<API key>`.
import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';

export type V2SignType = 'MD5' | 'HMAC-SHA256';
export type V2Params = Record<string, string | number | undefined>;

export function signV2(params: V2Params, apiKey: string, type: V2SignType): string {
  const text = `${Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')}&key=${apiKey}`;
  const digest =
    type === 'MD5' ? createHash('md5').update(text, 'utf8') : createHmac('sha256', apiKey).update(text, 'utf8');
  return digest.digest('hex').toUpperCase();
}

/** The algorithm a request declares: its `sign_type`, else a 64-character sign is HMAC-SHA256 and a 32-character one MD5. */
export const declaredSignType = (params: Record<string, string>): V2SignType =>
  params.sign_type === 'HMAC-SHA256' || (!params.sign_type && (params.sign ?? '').length === 64)
    ? 'HMAC-SHA256'
    : 'MD5';

/**
 * Whether `params` carry a valid sign made with `type`. The caller picks the algorithm (the one it
 * configured); the message never does, or an MD5 message would pass where HMAC-SHA256 is required.
 */
export function verifyV2(params: Record<string, string>, apiKey: string, type: V2SignType): boolean {
  const sign = params.sign ?? '';
  if (params.sign_type !== undefined && params.sign_type !== type) return false;
  const expected = Buffer.from(signV2(params, apiKey, type));
  return expected.length === sign.length && timingSafeEqual(expected, Buffer.from(sign));
}

const cdata = (v: string) => `<![CDATA[${v.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;

export const toV2Xml = (params: V2Params): string =>
  `<xml>${Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${cdata(String(v))}</${k}>`)
    .join('')}</xml>`;

const parser = new XMLParser({ parseTagValue: false, trimValues: false, processEntities: true });

/** The flat fields under <xml> (or `rootName`), all strings; undefined when the text is not such a document. */
export function parseV2Xml(text: string, rootName = 'xml'): Record<string, string> | undefined {
  try {
    const root = (parser.parse(text) as Record<string, unknown>)[rootName];
    if (!root || typeof root !== 'object') return undefined;
    return Object.fromEntries(
      Object.entries(root)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
        .map(([k, v]) => [k, String(v)]),
    );
  } catch {
    return undefined;
  }
}

/**
 * A v2 refund notification's `req_info`: base64 of AES-256-ECB (PKCS#7) under the lowercase hex MD5 of
 * the API v2 key, whose 32 characters are the AES key. Decrypting throws when the key is another.
 */
const reqInfoKey = (apiKey: string) => Buffer.from(createHash('md5').update(apiKey, 'utf8').digest('hex'), 'utf8');
export function decryptV2ReqInfo(reqInfo: string, apiKey: string): string {
  const decipher = createDecipheriv('aes-256-ecb', reqInfoKey(apiKey), null);
  return Buffer.concat([decipher.update(Buffer.from(reqInfo, 'base64')), decipher.final()]).toString('utf8');
}
export function encryptV2ReqInfo(plaintext: string, apiKey: string): string {
  const cipher = createCipheriv('aes-256-ecb', reqInfoKey(apiKey), null);
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}
