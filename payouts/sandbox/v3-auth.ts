// How the sandbox checks an APIv3 request and signs its answer, like WeChat Pay: a request must carry
// a WECHATPAY2-SHA256-RSA2048 Authorization from the merchant's certificate key (a bad one is 401
// SIGN_ERROR with the detail WeChat gives); an answer is signed with the key the request's
// Wechatpay-Serial names, or with the merchant's configured kind of key when it names none.
import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { encryptResource, parseAuthorization, verifyLines, wechatpayHeaders, WINDOW_S } from '../wechat/v3-crypto.js';
import { chinaTime } from './timers.js';

export interface SandboxKeys {
  mchid: string;
  merchantCert: X509Certificate;
  /** The platform certificate's serial and key, and the WeChat Pay public key's id and key. */
  platform: {
    serial: string;
    privateKey: KeyObject;
    publicKey: KeyObject;
    certPem: string;
    validFrom: string;
    validTo: string;
  };
  publicKey: { id: string; privateKey: KeyObject; publicKey: KeyObject };
  /** Which kind of key signs answers that do not choose (a merchant migrating switches this). */
  signWith: 'platform' | 'public_key';
}

export interface V3Request {
  method: string;
  path: string;
  body: string;
  headers: Record<string, string | undefined>;
}
export type V3Reply = { status: number; body?: unknown };

export const v3Error = (status: number, code: string, message: string, detail?: unknown): V3Reply => ({
  status,
  body: { code, message, ...(detail === undefined ? {} : { detail }) },
});

/** A 401 SIGN_ERROR reply when the request is not signed by the merchant, else undefined. */
export function checkV3Request(keys: SandboxKeys, req: V3Request, nowS: number): V3Reply | undefined {
  const auth = parseAuthorization(req.headers.authorization);
  const signError = (issue: string, field = 'signature') =>
    v3Error(401, 'SIGN_ERROR', '错误的签名,验签失败', { field, location: 'authorization', detail: { issue } });
  if (!auth) return signError('the Authorization header is missing or not WECHATPAY2-SHA256-RSA2048', 'authorization');
  const { mchid, nonce_str: nonce, signature, timestamp, serial_no: serial } = auth;
  if (!mchid || !nonce || !signature || !timestamp || !serial)
    return signError('a parameter of the Authorization header is missing', 'authorization');
  if (mchid !== keys.mchid) return signError(`mchid ${mchid} is not this merchant`, 'mchid');
  if (serial.toUpperCase() !== keys.merchantCert.serialNumber.toUpperCase())
    return signError(`serial_no ${serial} is not the merchant certificate's`, 'serial_no');
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) >= WINDOW_S)
    return signError('timestamp outside the ±300 s window', 'timestamp');
  const lines = [req.method, req.path, timestamp, nonce, req.body];
  if (verifyLines(keys.merchantCert.publicKey, lines, signature)) return undefined;
  const signed = lines.map((l) => `${l}\n`).join('');
  return v3Error(401, 'SIGN_ERROR', '错误的签名,验签失败', {
    field: 'signature',
    location: 'authorization',
    detail: { issue: 'sign not match' },
    sign_information: {
      method: req.method,
      url: req.path,
      sign_message_length: Buffer.byteLength(signed),
      truncated_sign_message: signed.slice(0, 64),
    },
  });
}

/** The key that signs an answer: the one the request's Wechatpay-Serial names, if it names one of ours. */
export function answerKey(keys: SandboxKeys, requestedSerial: string | undefined): { serial: string; key: KeyObject } {
  if (requestedSerial === keys.publicKey.id) return { serial: keys.publicKey.id, key: keys.publicKey.privateKey };
  if (requestedSerial === keys.platform.serial || keys.signWith === 'platform')
    return { serial: keys.platform.serial, key: keys.platform.privateKey };
  return { serial: keys.publicKey.id, key: keys.publicKey.privateKey };
}

/** The headers of a signed answer (and of a callback). */
export function signedHeaders(
  keys: SandboxKeys,
  requestedSerial: string | undefined,
  body: string,
  nowS: number,
): Record<string, string> {
  const { serial, key } = answerKey(keys, requestedSerial);
  return { ...wechatpayHeaders(key, serial, body, nowS), 'request-id': randomBytes(16).toString('hex') };
}

/** The key whose private half decrypts a sensitive field sent under `serial`. */
export const decryptionKey = (keys: SandboxKeys, serial: string | undefined): KeyObject | undefined =>
  serial === keys.platform.serial
    ? keys.platform.privateKey
    : serial === keys.publicKey.id
      ? keys.publicKey.privateKey
      : undefined;

/**
 * GET /v3/certificates: the platform certificate, AEAD-encrypted under the APIv3 key. A merchant
 * that has moved to the WeChat Pay public key gets 404 RESOURCE_NOT_EXISTS, as WeChat answers.
 */
export function certificateList(keys: SandboxKeys, apiV3Key: string): V3Reply {
  if (keys.signWith === 'public_key')
    return v3Error(404, 'RESOURCE_NOT_EXISTS', '无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥');
  const { serial, certPem, validFrom, validTo } = keys.platform;
  return {
    status: 200,
    body: {
      data: [
        {
          serial_no: serial,
          effective_time: chinaTime(Date.parse(validFrom)),
          expire_time: chinaTime(Date.parse(validTo)),
          encrypt_certificate: encryptResource(apiV3Key, certPem, 'certificate', 'certificate'),
        },
      ],
    },
  };
}
