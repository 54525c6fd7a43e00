// What the APIv3 client sends and how it reads what comes back, through a fake transport: the
// Wechatpay-Serial header on every call, and unsigned answers read as WeChat's but never as final.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { HttpAnswer, Transport } from './transport.js';
import { createV3Client } from './v3-client.js';
import { wechatpayHeaders } from './v3-crypto.js';

const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW_S = 1_700_000_000;
const bill = {
  appid: 'wx1',
  out_bill_no: 'R1',
  transfer_scene_id: '1000',
  openid: 'o1',
  transfer_amount: 100,
  transfer_remark: 'x',
  transfer_scene_report_infos: [],
};

/** A client whose transport records each request's headers and gives each call the next answer. */
function client(encryptSerial: string, answers: HttpAnswer[]) {
  const sent: Record<string, string>[] = [];
  const transport = {
    send: async (_m: string, _p: string, headers: Record<string, string>) => {
      sent.push(headers);
      return answers.shift() ?? signed(200, '{}');
    },
  } as unknown as Transport;
  const v3 = createV3Client(
    {
      mchid: '1900000109',
      serial: 'MCH1',
      privateKey: merchant.privateKey,
      apiV3Key: 'k'.repeat(32),
      platformKeys: new Map([['PUB_KEY_ID_1', platform.publicKey]]),
      encryptSerial,
    },
    { transport, nowS: () => NOW_S },
  );
  return { sent, v3 };
}
const signed = (status: number, text: string, serial = 'PUB_KEY_ID_1'): HttpAnswer => ({
  status,
  headers: wechatpayHeaders(platform.privateKey, serial, text, NOW_S),
  body: Buffer.from(text),
});
const unsigned = (status: number, text: string): HttpAnswer => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(text),
});

describe('APIv3 requests', () => {
  // During a move to the public key the answer's key follows the request's serial, so every call names it.
  it('names the known serial on every call, reads and writes alike', async () => {
    const { sent, v3 } = client('PUB_KEY_ID_1', []);
    await v3.createBill(bill);
    await v3.getBill('R1');
    await v3.getBatch('B1', { offset: 0, limit: 100 });
    expect(sent.map((h) => h['wechatpay-serial'])).toEqual(['PUB_KEY_ID_1', 'PUB_KEY_ID_1', 'PUB_KEY_ID_1']);
  });

  it('names no serial while none is known', async () => {
    const { sent, v3 } = client('', []);
    await v3.getBill('R1');
    expect(sent[0]).not.toHaveProperty('wechatpay-serial');
  });
});

describe('APIv3 answers', () => {
  // An unsigned 4xx is WeChat's refusal of a request it could not verify, or anyone's on the path.
  it.each([
    ['SIGN_ERROR stays a refusal a person must look at', 401, 'SIGN_ERROR', { retriable: false, final: false }],
    ['NO_AUTH stays a refusal a person must look at', 403, 'NO_AUTH', { retriable: false, final: false }],
    [
      'a final code is taken as needing a person, never as failed',
      400,
      'ACCOUNT_FROZEN',
      { retriable: false, final: false },
    ],
    ['a retriable code stays retriable', 429, 'FREQUENCY_LIMITED', { retriable: true, final: false }],
  ])("reads an unsigned 4xx as WeChat's answer: %s", async (_name, status, code, info) => {
    const { v3 } = client('PUB_KEY_ID_1', [unsigned(status, JSON.stringify({ code, message: 'm' }))]);
    const a = await v3.getBill('R1');
    expect(a).toMatchObject({ ok: false, status, code, error: info });
  });

  it('reads an unsigned 4xx without JSON by its status', async () => {
    const { v3 } = client('PUB_KEY_ID_1', [unsigned(400, 'bad request')]);
    expect(await v3.getBill('R1')).toMatchObject({ ok: false, status: 400, code: 'HTTP_400', error: { final: false } });
  });

  it('reads a signed final code as final', async () => {
    const { v3 } = client('PUB_KEY_ID_1', [signed(400, JSON.stringify({ code: 'ACCOUNT_FROZEN', message: 'm' }))]);
    expect(await v3.getBill('R1')).toMatchObject({ ok: false, code: 'ACCOUNT_FROZEN', error: { final: true } });
  });

  // WeChat signs every answer to a request it verified: these are forged, and the outcome stays unknown.
  it.each([
    ['an unsigned 2xx', unsigned(200, '{"state":"SUCCESS"}')],
    ['an unsigned 5xx', unsigned(500, '{"code":"SYSTEM_ERROR"}')],
    [
      'a 4xx whose signature fails',
      { ...signed(400, '{"code":"ACCOUNT_FROZEN"}'), body: Buffer.from('{"code":"NAME_MISMATCH"}') },
    ],
    ['a 4xx signed by an unknown key', signed(400, '{"code":"ACCOUNT_FROZEN"}', 'OTHER')],
  ])('throws a retriable fault for %s', async (_name, answer) => {
    const { v3 } = client('PUB_KEY_ID_1', [answer]);
    await expect(v3.getBill('R1')).rejects.toMatchObject({ code: 'wechat_unverified_answer', retriable: true });
  });
});
