import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { wechatError } from './errors.js';
import type { Transport } from './transport.js';
import { createV2Client } from './v2-client.js';
import { declaredSignType, parseV2Xml, signV2, toV2Xml, verifyV2 } from './v2-protocol.js';
import {
  authorization,
  decryptResource,
  decryptSensitive,
  encryptResource,
  encryptSensitive,
  parseAuthorization,
  verifyLines,
  verifyWechatpay,
  wechatpayHeaders,
} from './v3-crypto.js';

// The worked example of WeChat Pay's APIv2 signature guide (pay.weixin.qq.com wiki, 4_3).
const official = {
  appid: 'wxd930ea5d5a258f4f',
  mch_id: '10000100',
  device_info: '1000',
  body: 'test',
  nonce_str: 'ibuaiVcKdpRxkhJA',
};
const officialKey = '192006250b4c09247ec02edce69f6a2d';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('APIv2 signatures', () => {
  it('reproduces the official MD5 and HMAC-SHA256 examples', () => {
    expect(signV2(official, officialKey, 'MD5')).toBe('9A0A8659F005D6984697E2CA0A9CF3B7');
    expect(signV2(official, officialKey, 'HMAC-SHA256')).toBe(
      '6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6',
    );
  });

  it('leaves out empty values and the sign itself', () => {
    expect(signV2({ ...official, empty: '', sign: 'X', none: undefined }, officialKey, 'MD5')).toBe(
      '9A0A8659F005D6984697E2CA0A9CF3B7',
    );
  });

  const md5 = '9A0A8659F005D6984697E2CA0A9CF3B7';
  const hmac = '6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6';
  // The algorithm is the one configured, never the one the message names: MD5 under HMAC-SHA256 is a downgrade.
  it.each([
    ['an HMAC-SHA256 sign under HMAC-SHA256', { ...official, sign: hmac }, 'HMAC-SHA256', true],
    ['an MD5 sign under MD5', { ...official, sign: md5 }, 'MD5', true],
    ['an MD5 sign under HMAC-SHA256', { ...official, sign: md5 }, 'HMAC-SHA256', false],
    [
      'an MD5 sign declaring sign_type MD5 under HMAC-SHA256',
      { ...official, sign_type: 'MD5', sign: signV2({ ...official, sign_type: 'MD5' }, officialKey, 'MD5') },
      'HMAC-SHA256',
      false,
    ],
    ['an HMAC-SHA256 sign under MD5', { ...official, sign: hmac }, 'MD5', false],
    ['a changed field', { ...official, body: 'tes', sign: md5 }, 'MD5', false],
    ['no sign', { ...official }, 'MD5', false],
  ] as const)('verifies only the configured algorithm: %s', (_name, params, type, ok) => {
    expect(verifyV2(params, officialKey, type)).toBe(ok);
  });

  it("tells the algorithm a request declares (what WeChat's own server goes by)", () => {
    expect(declaredSignType({ sign: md5 })).toBe('MD5');
    expect(declaredSignType({ sign: hmac })).toBe('HMAC-SHA256');
    expect(declaredSignType({ sign_type: 'HMAC-SHA256', sign: md5 })).toBe('HMAC-SHA256');
  });

  it('round-trips XML with CDATA, including a value that contains ]]>', () => {
    const params = { a: 'x<y>&z', b: 'end]]>here', n: 100 };
    expect(parseV2Xml(toV2Xml(params))).toEqual({ a: 'x<y>&z', b: 'end]]>here', n: '100' });
    expect(parseV2Xml('not xml')).toBeUndefined();
  });
});

describe('APIv2 requests', () => {
  /** The XML fields each call sends, through a transport that answers SUCCESS. */
  function recorded(signType: 'MD5' | 'HMAC-SHA256', transferSignType: 'MD5' | 'HMAC-SHA256') {
    const sent: Record<string, string>[] = [];
    const transport = {
      send: async (_m: string, _p: string, _h: Record<string, string>, body = '') => {
        sent.push(parseV2Xml(body)!);
        return {
          status: 200,
          headers: {},
          body: Buffer.from(toV2Xml({ return_code: 'SUCCESS', result_code: 'SUCCESS' })),
        };
      },
    } as unknown as Transport;
    return {
      sent,
      client: createV2Client(
        { mchid: '1900000109', appid: 'wx1', apiKey: officialKey, signType, transferSignType },
        { transport },
      ),
    };
  }

  // promotion/transfers and gettransferinfo take no sign_type field: WeChat verifies them as MD5.
  it.each(['MD5', 'HMAC-SHA256'] as const)(
    'signs transfers and their queries with the transfer sign type and no sign_type field, other calls with %s',
    async (signType) => {
      const { sent, client } = recorded(signType, 'MD5');
      await client.transfer({
        partner_trade_no: 'R1',
        openid: 'o1',
        amount: 100,
        desc: 'x',
        check_name: 'NO_CHECK',
        spbill_create_ip: '127.0.0.1',
      });
      await client.getTransferInfo('R1');
      await client.downloadBill('20261204');
      const [transfer, query, bill] = sent;
      for (const fields of [transfer!, query!]) {
        expect(fields.sign_type).toBeUndefined();
        expect(verifyV2(fields, officialKey, 'MD5')).toBe(true);
      }
      expect(verifyV2(bill!, officialKey, signType)).toBe(true);
    },
  );

  it("reads the operating account's fund-flow bill, signed HMAC-SHA256", async () => {
    const { sent, client } = recorded('MD5', 'MD5');
    await client.downloadFundflow('20261204');
    expect(sent[0]).toMatchObject({ account_type: 'Operation', sign_type: 'HMAC-SHA256' });
    expect(verifyV2(sent[0]!, officialKey, 'HMAC-SHA256')).toBe(true);
  });
});

describe('APIv3 crypto', () => {
  const merchant = { mchid: '1900000109', serial: 'ABC123', privateKey };

  it('signs the five request lines and names every Authorization parameter', () => {
    const header = authorization(
      merchant,
      { method: 'POST', path: '/v3/transfer/batches?x=1', body: '{"a":1}' },
      { timestampS: 1_700_000_000, nonce: 'N1' },
    );
    const p = parseAuthorization(header)!;
    expect(p).toMatchObject({ mchid: '1900000109', nonce_str: 'N1', timestamp: '1700000000', serial_no: 'ABC123' });
    expect(
      verifyLines(publicKey, ['POST', '/v3/transfer/batches?x=1', '1700000000', 'N1', '{"a":1}'], p.signature!),
    ).toBe(true);
    expect(verifyLines(publicKey, ['POST', '/v3/transfer/batches', '1700000000', 'N1', '{"a":1}'], p.signature!)).toBe(
      false,
    );
  });

  it('verifies answers by serial within ±300 s and says why it refuses', () => {
    const keys = new Map([['PUB_KEY_ID_1', publicKey]]);
    const headers = wechatpayHeaders(privateKey, 'PUB_KEY_ID_1', '{"ok":true}', 1_700_000_000);
    expect(verifyWechatpay(headers, '{"ok":true}', keys, 1_700_000_299)).toEqual({ ok: true });
    expect(verifyWechatpay(headers, '{"ok":true}', keys, 1_700_000_300)).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
    expect(verifyWechatpay(headers, '{"ok":false}', keys, 1_700_000_000)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyWechatpay({ ...headers, 'wechatpay-serial': 'OTHER' }, '{"ok":true}', keys, 1_700_000_000)).toEqual({
      ok: false,
      reason: 'unknown_serial',
    });
    expect(
      verifyWechatpay(
        { ...headers, 'wechatpay-signature': 'WECHATPAY/SIGNTEST/abc' },
        '{"ok":true}',
        keys,
        1_700_000_000,
      ),
    ).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('decrypts what it encrypts, and refuses a resource under another key or altered', () => {
    const key = 'sandboxApiV3Key0123456789abcdefB';
    const r = encryptResource(key, '{"out_batch_no":"B1"}', 'mch_payment', 'mch_payment');
    expect(r.nonce).toHaveLength(12);
    expect(decryptResource(key, r)).toBe('{"out_batch_no":"B1"}');
    expect(() => decryptResource('sandboxApiV3Key0123456789abcdefX', r)).toThrow();
    expect(() => decryptResource(key, { ...r, associated_data: 'other' })).toThrow();
  });

  it('encrypts sensitive fields with RSA-OAEP so only the private key reads them', () => {
    const c = encryptSensitive(publicKey, '张三');
    expect(c).not.toBe(encryptSensitive(publicKey, '张三'));
    expect(decryptSensitive(privateKey, c)).toBe('张三');
  });
});

describe('WeChat error codes', () => {
  it.each([
    ['SYSTEMERROR', true, false],
    ['SYSTEM_ERROR', true, false],
    ['NOT_FOUND', true, false],
    ['FREQUENCY_LIMITED', true, false],
    ['NOT_ENOUGH', true, false],
    ['NAME_MISMATCH', false, true],
    ['OPENID_INVALID', false, true],
    ['SEND_FAILED', false, true],
    ['ACCOUNT_FROZEN', false, true],
    ['FATAL_ERROR', false, false],
    ['INVALID_REQUEST', false, false],
    ['SIGN_ERROR', false, false],
    ['SOMETHING_NEW', false, false],
  ])('%s is retriable=%s, final=%s', (code, retriable, final) => {
    expect(wechatError(code)).toMatchObject({ retriable, final });
  });
});
