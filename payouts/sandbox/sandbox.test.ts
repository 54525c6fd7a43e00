// The sandbox against the real clients, and against an independent client (wechatpay-axios-plugin).
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wechatpay } from 'wechatpay-axios-plugin';
import { createTransport } from '../wechat/transport.js';
import { createV3Client, type BatchView, type CreateBatch } from '../wechat/v3-client.js';
import { sandboxMerchant } from './defaults.js';
import { startTestSandbox } from './test-clients.js';

let t: Awaited<ReturnType<typeof startTestSandbox>>;
const received: { headers: Record<string, string | undefined>; body: string; answered: number }[] = [];
let receiver: ReturnType<typeof createServer>;
let notifyUrl = '';
let seq = 0;
const no = (prefix: string) => `${prefix}${Date.now()}${seq++}`;

beforeAll(async () => {
  t = await startTestSandbox();
  // A callback receiver that answers 200 only to what verifies, as the payouts service does.
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
        );
        const answered = 'error' in t.v3.readNotification(headers, body) ? 401 : 200;
        received.push({ headers, body, answered });
        res.writeHead(answered).end();
      });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  notifyUrl = `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/wechat/notify`; // delivered over plain HTTP
});
afterAll(async () => {
  receiver.close();
  await t.stop();
});

const batch = (
  details: { amount: number; openid?: string; name?: string }[],
  extra: Partial<CreateBatch> = {},
): CreateBatch => {
  const outBatchNo = no('B');
  const list = details.map((d, i) => ({
    out_detail_no: `${outBatchNo}D${i}`,
    transfer_amount: d.amount,
    transfer_remark: 'reward',
    openid: d.openid ?? `oUser${i}`,
    ...(d.name ? { user_name: d.name } : {}),
  }));
  return {
    appid: sandboxMerchant.appid,
    out_batch_no: outBatchNo,
    batch_name: 'rewards',
    batch_remark: 'rewards',
    total_amount: list.reduce((s, d) => s + d.transfer_amount, 0),
    total_num: list.length,
    transfer_detail_list: list,
    ...extra,
  };
};

const bill = (amount = 300) => ({
  appid: sandboxMerchant.appid,
  out_bill_no: no('T'),
  transfer_scene_id: '1000',
  openid: 'oBillUser',
  transfer_amount: amount,
  transfer_remark: 'reward',
  notify_url: notifyUrl,
  transfer_scene_report_infos: [
    { info_type: '活动名称', info_content: '看广告得奖励' },
    { info_type: '奖励说明', info_content: '观看广告获得奖励' },
  ],
});
const transfer = (partnerTradeNo: string, amount = 200) => ({
  partner_trade_no: partnerTradeNo,
  openid: 'oV2User',
  amount,
  desc: 'reward',
  check_name: 'NO_CHECK' as const,
  spbill_create_ip: '127.0.0.1',
});

async function finished(outBatchNo: string, v3 = t.v3): Promise<BatchView> {
  for (;;) {
    const got = await v3.getBatch(outBatchNo, { offset: 0, limit: 100 });
    if (got.ok && got.data.transfer_batch.batch_status === 'FINISHED') return got.data;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
};

describe('v3 batch transfers', () => {
  it('accepts a batch, finishes it over time, and shows details only once FINISHED', async () => {
    const b = batch([{ amount: 150 }, { amount: 250, openid: 'oFailing' }]);
    await t.admin('faults', { failOpenids: { oFailing: 'ACCOUNT_FROZEN' } });
    const created = await t.v3.createBatch(b);
    expect(created).toMatchObject({ ok: true, data: { out_batch_no: b.out_batch_no, batch_status: 'ACCEPTED' } });
    const early = await t.v3.getDetail(b.out_batch_no, b.transfer_detail_list[0]!.out_detail_no);
    expect(early).toMatchObject({ ok: false, status: 400, code: 'INVALID_REQUEST' });
    const view = await finished(b.out_batch_no);
    expect(view.transfer_batch).toMatchObject({ success_num: 1, fail_num: 1 });
    expect(view.transfer_detail_list!.map((d) => d.detail_status)).toEqual(['SUCCESS', 'FAIL']);
    const failed = await t.v3.getDetail(b.out_batch_no, b.transfer_detail_list[1]!.out_detail_no);
    expect(failed).toMatchObject({ ok: true, data: { detail_status: 'FAIL', fail_reason: 'ACCOUNT_FROZEN' } });
  });

  it('answers a repeated number with the first answer, and a changed body with INVALID_REQUEST', async () => {
    const b = batch([{ amount: 100 }]);
    const first = await t.v3.createBatch(b);
    expect(await t.v3.createBatch(b)).toEqual(first);
    const changed = await t.v3.createBatch({
      ...b,
      total_amount: 101,
      transfer_detail_list: [{ ...b.transfer_detail_list[0]!, transfer_amount: 101 }],
    });
    expect(changed).toMatchObject({
      ok: false,
      status: 400,
      code: 'INVALID_REQUEST',
      error: { retriable: false, final: false },
    });
  });

  it.each([
    ['a total that is not the sum', (b: CreateBatch) => ({ ...b, total_amount: b.total_amount + 1 })],
    ['a count that is not the number of details', (b: CreateBatch) => ({ ...b, total_num: 2 })],
    ['more than 1000 details', () => batch(Array.from({ length: 1001 }, () => ({ amount: 100 })))],
    ['a plaintext user_name', () => batch([{ amount: 100, name: '张三' }])],
    ['no user_name at 2,000 yuan', () => batch([{ amount: 200_000 }])],
  ])('refuses %s with PARAM_ERROR', async (_name, make) => {
    expect(await t.v3.createBatch(make(batch([{ amount: 100 }])))).toMatchObject({
      ok: false,
      status: 400,
      code: 'PARAM_ERROR',
    });
  });

  it('accepts an encrypted user_name at 2,000 yuan and compares it decrypted on a repeat', async () => {
    const b = batch([{ amount: 200_000, name: t.v3.encrypt('张三') }]);
    const first = await t.v3.createBatch(b);
    expect(first.ok).toBe(true);
    const again = await t.v3.createBatch({
      ...b,
      transfer_detail_list: [{ ...b.transfer_detail_list[0]!, user_name: t.v3.encrypt('张三') }],
    });
    expect(again).toEqual(first);
  });

  it("answers 401 SIGN_ERROR with WeChat's detail to a request signed with another key", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const forger = createV3Client(
      {
        ...t.creds,
        mchid: sandboxMerchant.mchid,
        apiV3Key: sandboxMerchant.apiV3Key,
        privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
      },
      {
        transport: createTransport({ baseUrl: `http://127.0.0.1:${t.sandbox.port}`, timeoutMs: 2_000, tls: {} }),
        nowS: t.nowS,
      },
    );
    const answer = await forger.getBatch('B1', { offset: 0, limit: 20 });
    expect(answer).toMatchObject({ ok: false, status: 401, code: 'SIGN_ERROR' });
    const raw = await fetch(`http://127.0.0.1:${t.sandbox.port}/v3/transfer/batches/out-batch-no/B1`, {
      headers: {
        authorization:
          'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="n",signature="c2ln",timestamp="1",serial_no="x"',
      },
    });
    expect(raw.headers.get('x-sandbox')).toBe('wechatpay');
    expect(await raw.json()).toMatchObject({ code: 'SIGN_ERROR', detail: { location: 'authorization' } });
  });

  it('answers create-time faults with their codes, and a repeat after SYSTEM_ERROR-after-work finds the batch', async () => {
    await t.admin('faults', { frequencyLimited: 1 });
    expect(await t.v3.createBatch(batch([{ amount: 100 }]))).toMatchObject({
      ok: false,
      status: 429,
      code: 'FREQUENCY_LIMITED',
      error: { retriable: true },
    });
    await t.admin('faults', { notEnough: 1 });
    expect(await t.v3.createBatch(batch([{ amount: 100 }]))).toMatchObject({
      ok: false,
      status: 403,
      code: 'NOT_ENOUGH',
      error: { retriable: true },
    });
    const b = batch([{ amount: 100 }]);
    await t.admin('faults', { systemErrorAfterWork: 1 });
    expect(await t.v3.createBatch(b)).toMatchObject({
      ok: false,
      status: 500,
      code: 'SYSTEM_ERROR',
      error: { retriable: true },
    });
    expect(await t.v3.createBatch(b)).toMatchObject({ ok: true, data: { out_batch_no: b.out_batch_no } });
  });

  it('sends a signed, encrypted callback, retried after a forged signature, and duplicated on request', async () => {
    await t.admin('faults', { badCallbackSignature: 1, duplicateCallbacks: true, signtestProbe: true });
    const b = batch([{ amount: 120 }], { notify_url: notifyUrl });
    await t.v3.createBatch(b);
    const mine = () =>
      received.filter(
        (r) => r.answered === 200 && JSON.stringify(t.v3.readNotification(r.headers, r.body)).includes(b.out_batch_no),
      );
    await waitFor(() => mine().length >= 2);
    await t.admin('faults', { badCallbackSignature: 0, duplicateCallbacks: false, signtestProbe: false });
    expect(
      received.some((r) => r.answered === 401 && r.headers['wechatpay-signature']!.startsWith('WECHATPAY/SIGNTEST/')),
    ).toBe(true);
    expect(received.filter((r) => r.answered === 401).length).toBeGreaterThanOrEqual(2);
    const read = t.v3.readNotification(mine()[0]!.headers, mine()[0]!.body);
    expect(read).toMatchObject({
      notification: { event_type: 'MCHTRANSFER.BATCH.FINISHED' },
      resource: { out_batch_no: b.out_batch_no, batch_status: 'FINISHED', success_num: 1 },
    });
  });
});

describe('v3 transfer bills', () => {
  it('waits for the user with package_info, pays once confirmed, and calls back', async () => {
    const b = bill();
    const created = await t.v3.createBill(b);
    expect(created).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM', package_info: expect.any(String) } });
    await t.admin(`transfer-bills/${b.out_bill_no}/confirm`, {});
    await waitFor(() =>
      received.some(
        (r) =>
          r.answered === 200 &&
          r.body.length > 0 &&
          JSON.stringify(t.v3.readNotification(r.headers, r.body)).includes(b.out_bill_no),
      ),
    );
    expect(await t.v3.getBill(b.out_bill_no)).toMatchObject({ ok: true, data: { state: 'SUCCESS' } });
  });

  it('cancels through CANCELING to CANCELLED, and refuses a bill without scene report infos', async () => {
    const b = bill();
    await t.v3.createBill(b);
    expect(await t.v3.cancelBill(b.out_bill_no)).toMatchObject({ ok: true, data: { state: 'CANCELING' } });
    await new Promise((r) => setTimeout(r, 80));
    expect(await t.v3.getBill(b.out_bill_no)).toMatchObject({ ok: true, data: { state: 'CANCELLED' } });
    expect(await t.v3.createBill({ ...bill(), transfer_scene_report_infos: [] })).toMatchObject({
      ok: false,
      code: 'PARAM_ERROR',
    });
  });
});

describe('admin routes', () => {
  const routes = [
    ['GET', '/sandbox/state'],
    ['POST', '/sandbox/faults'],
    ['POST', '/sandbox/topup'],
    ['POST', '/sandbox/transfer-bills/T1/confirm'],
  ] as const;

  it.each(routes)(
    'does not serve %s %s on the public HTTP or HTTPS listener (with the merchant certificate)',
    async (method, path) => {
      const https = createTransport({
        baseUrl: `https://127.0.0.1:${t.sandbox.tlsPort}`,
        timeoutMs: 2_000,
        tls: t.creds.tls,
      });
      try {
        const body = method === 'POST' ? JSON.stringify({ systemError: 5, amountFen: 1 }) : '';
        const plain = await fetch(`http://127.0.0.1:${t.sandbox.port}${path}`, { method, ...(body ? { body } : {}) });
        expect(plain.status).toBe(404);
        expect((await https.send(method, path, {}, body)).status).toBe(404);
        expect((await t.admin('state')).faults).toMatchObject({ systemError: 0 });
      } finally {
        https.close();
      }
    },
  );

  it('serves them on the admin listener, on loopback only', async () => {
    expect(t.sandbox.adminPort).toEqual(expect.any(Number));
    expect(t.sandbox.adminPort).not.toBe(t.sandbox.port);
    expect(await t.admin('state')).toMatchObject({ balanceFen: expect.any(Number) });
    expect(await t.admin('faults', { latencyMs: 0 })).toMatchObject({ latencyMs: 0 });
  });
});

describe('v2 enterprise payment to change', () => {
  it('requires the merchant certificate', async () => {
    const plain = await fetch(`http://127.0.0.1:${t.sandbox.port}/mmpaymkttransfers/promotion/transfers`, {
      method: 'POST',
      body: '<xml></xml>',
    });
    expect(await plain.text()).toContain('CA_ERROR');
  });

  it('pays once per partner_trade_no: a repeat answers the same, other params FATAL_ERROR', async () => {
    const n = no('P');
    const first = await t.v2.transfer(transfer(n));
    expect(first).toMatchObject({ ok: true, fields: { partner_trade_no: n, payment_no: expect.any(String) } });
    expect(await t.v2.transfer(transfer(n))).toMatchObject({
      ok: true,
      fields: { payment_no: (first as { fields: Record<string, string> }).fields.payment_no },
    });
    expect(await t.v2.transfer(transfer(n, 201))).toMatchObject({ ok: false, code: 'FATAL_ERROR' });
    expect(await t.v2.getTransferInfo(n)).toMatchObject({
      ok: true,
      fields: { status: 'SUCCESS', payment_amount: '200' },
    });
    expect(await t.v2.getTransferInfo(no('P'))).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
      error: { retriable: true },
    });
  });

  it('answers SYSTEMERROR with return_code FAIL, and the minimum with AMOUNT_LIMIT', async () => {
    await t.admin('faults', { systemError: 1 });
    expect(await t.v2.transfer(transfer(no('P')))).toMatchObject({
      ok: false,
      code: 'SYSTEMERROR',
      fields: { return_code: 'FAIL' },
      error: { retriable: true },
    });
    expect(await t.v2.transfer(transfer(no('P'), 99))).toMatchObject({
      ok: false,
      code: 'AMOUNT_LIMIT',
      error: { final: true },
    });
  });
});

describe('bills', () => {
  it("serves the fund-flow bill in WeChat's CSV once it is made, checked by its SHA1", async () => {
    const day = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
    expect(await t.v3.fundflowBill(day)).toMatchObject({ ok: false, code: 'STATEMENT_CREATING' });
    await t.admin('faults', { billsAtOnce: true });
    await t.admin('topup', { amountFen: 1 }); // the basic account has a bill that day too
    const bill = await t.v3.fundflowBill(day);
    expect(bill.ok).toBe(true);
    expect((bill as { data: string }).data.startsWith('\uFEFF记账时间,')).toBe(true);
    const text = ((await t.fundflow('OPERATION', day)) as { text: string }).text;
    expect(text).toMatch(/`企业付款到零钱,`企业付款,`支出,`2\.00,/);
    expect(text.trimEnd().split('\n').at(-2)).toBe('资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额');
    expect(await t.v2Fundflow('Operation', day.replaceAll('-', ''))).toMatch(/^\uFEFF记账时间,/);
    expect(await t.v2.downloadFundflow('20200101')).toEqual({
      ok: false,
      errorCode: '20002',
      message: 'No Bill Exist',
    });
    // The sandbox merchant only pays out: its trade bill (no certificate needed) is always empty.
    expect(await t.v2.downloadBill('20200101')).toEqual({ ok: false, errorCode: '20002', message: 'No Bill Exist' });
  });
});

describe('platform certificates', () => {
  it('downloads them (AEAD under the APIv3 key), verifies the list with them, and then verifies everything else', async () => {
    const keys = new Map<string, KeyObject>();
    const bare = createV3Client(
      {
        ...t.creds,
        mchid: sandboxMerchant.mchid,
        apiV3Key: sandboxMerchant.apiV3Key,
        platformKeys: keys,
        encryptSerial: '',
      },
      {
        transport: createTransport({ baseUrl: `http://127.0.0.1:${t.sandbox.port}`, timeoutMs: 2_000, tls: {} }),
        nowS: t.nowS,
      },
    );
    await expect(bare.getBatch('B1', { offset: 0, limit: 20 })).rejects.toThrow(/without a valid signature/);
    expect(await bare.refreshCertificates()).toEqual([t.sandbox.keys.platform.serial]);
    expect(await bare.getBatch('B1', { offset: 0, limit: 20 })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(bare.encrypt('张三')).toBeTruthy();
    const wrongKey = createV3Client(
      {
        ...t.creds,
        mchid: sandboxMerchant.mchid,
        apiV3Key: 'sandboxApiV3Key0123456789abcdefX',
        platformKeys: new Map(),
        encryptSerial: '',
      },
      {
        transport: createTransport({ baseUrl: `http://127.0.0.1:${t.sandbox.port}`, timeoutMs: 2_000, tls: {} }),
        nowS: t.nowS,
      },
    );
    await expect(wrongKey.refreshCertificates()).rejects.toThrow();
  });

  it('answers 404 RESOURCE_NOT_EXISTS to a merchant that moved to the WeChat Pay public key', async () => {
    const other = await startTestSandbox({ signWith: 'public_key' });
    try {
      const withPublicKey = new Map([[other.sandbox.keys.publicKey.id, other.sandbox.keys.publicKey.publicKey]]);
      const client = createV3Client(
        {
          ...other.creds,
          mchid: sandboxMerchant.mchid,
          apiV3Key: sandboxMerchant.apiV3Key,
          platformKeys: withPublicKey,
          encryptSerial: other.sandbox.keys.publicKey.id,
        },
        {
          transport: createTransport({ baseUrl: `http://127.0.0.1:${other.sandbox.port}`, timeoutMs: 2_000, tls: {} }),
          nowS: other.nowS,
        },
      );
      await expect(client.refreshCertificates()).rejects.toThrow(/RESOURCE_NOT_EXISTS/);
      expect(await client.getBatch('B1', { offset: 0, limit: 20 })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    } finally {
      await other.stop();
    }
  });
});

describe('an independent client (wechatpay-axios-plugin)', () => {
  it("calls v3 batches and verifies the sandbox's signed answers", async () => {
    const pay = new Wechatpay({
      mchid: sandboxMerchant.mchid,
      serial: t.creds.serial,
      privateKey: t.creds.tls.key,
      certs: { [t.creds.encryptSerial]: t.sandbox.keys.platform.publicKey.export({ type: 'spki', format: 'pem' }) },
      baseURL: `http://127.0.0.1:${t.sandbox.port}/`,
    });
    const b = batch([{ amount: 130 }]);
    const created = await pay.v3!.transfer!.batches!.post!(b, {
      headers: { 'Wechatpay-Serial': t.creds.encryptSerial },
    });
    expect(created.data).toMatchObject({ out_batch_no: b.out_batch_no, batch_status: 'ACCEPTED' });
    const got = await pay.v3!.transfer!.batches!.outBatchNo!._out_batch_no_!.get!({
      params: { need_query_detail: false },
      out_batch_no: b.out_batch_no,
    });
    expect(got.data.transfer_batch.out_batch_no).toBe(b.out_batch_no);
  });

  it('pays through v2 with its own signing and mutual TLS', async () => {
    const pay = new Wechatpay({
      mchid: sandboxMerchant.mchid,
      serial: t.creds.serial,
      privateKey: t.creds.tls.key,
      certs: { any: t.sandbox.keys.platform.publicKey.export({ type: 'spki', format: 'pem' }) },
      secret: sandboxMerchant.apiV2Key,
      merchant: { cert: t.creds.tls.cert, key: t.creds.tls.key, ca: t.creds.tls.ca },
      baseURL: `https://127.0.0.1:${t.sandbox.tlsPort}/`,
    });
    const n = no('X');
    const answer = await pay.v2!.mmpaymkttransfers!.promotion!.transfers!.post!(
      {
        mch_appid: sandboxMerchant.appid,
        mchid: sandboxMerchant.mchid,
        partner_trade_no: n,
        openid: 'oAxios',
        check_name: 'NO_CHECK',
        amount: 100,
        desc: 'reward',
        spbill_create_ip: '127.0.0.1',
      },
      { security: true },
    );
    expect(answer.data).toMatchObject({ result_code: 'SUCCESS', partner_trade_no: n });
  });
});

describe('a restarted sandbox', () => {
  it('keeps what it accepted: finishes a batch in flight paying each detail once, and answers repeats with the first answer', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    const b = bill();
    const v2 = transfer(no('R'));
    const inFlight = batch([{ amount: 150 }, { amount: 250 }]);
    const first = await startTestSandbox({ journalFile, stepMs: 60_000 }); // nothing finishes before the restart
    const paidV2 = await first.v2.transfer(v2);
    const createdBill = await first.v3.createBill(b);
    const createdBatch = await first.v3.createBatch(inFlight);
    expect(createdBatch).toMatchObject({ ok: true, data: { batch_status: 'ACCEPTED' } });
    const balance = (await first.admin('state')).balanceFen as number;
    await first.stop();

    const second = await startTestSandbox({ journalFile });
    try {
      expect(await second.v3.createBatch(inFlight)).toEqual(createdBatch);
      const view = await finished(inFlight.out_batch_no, second.v3);
      expect(view.transfer_detail_list!.map((d) => d.detail_status)).toEqual(['SUCCESS', 'SUCCESS']);
      expect(await second.v3.createBill(b)).toEqual(createdBill);
      expect(await second.v3.getBill(b.out_bill_no)).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM' } });
      expect(await second.v2.transfer(v2)).toEqual(paidV2);
      expect((await second.admin('state')).balanceFen).toBe(balance - 400);
    } finally {
      await second.stop();
    }
    // A third start finds the batch finished, and pays nothing again.
    const third = await startTestSandbox({ journalFile });
    try {
      expect(await third.v3.getBatch(inFlight.out_batch_no, { offset: 0, limit: 100 })).toMatchObject({
        ok: true,
        data: { transfer_batch: { batch_status: 'FINISHED', success_num: 2 } },
      });
      expect((await third.admin('state')).balanceFen).toBe(balance - 400);
    } finally {
      await third.stop();
    }
  });

  it('carries on with a callback it still owed, and owes none once it was acknowledged', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    let accepting = false;
    const got: { headers: Record<string, string | undefined>; body: string }[] = [];
    const flaky = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req
        .on('data', (c: Buffer) => chunks.push(c))
        .on('end', () => {
          if (!accepting) return void res.writeHead(503).end();
          got.push({
            headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])),
            body: Buffer.concat(chunks).toString('utf8'),
          });
          res.writeHead(200).end();
        });
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const b = batch([{ amount: 130 }], {
      notify_url: `https://127.0.0.1:${(flaky.address() as AddressInfo).port}/v1/wechat/notify`,
    });
    const first = await startTestSandbox({ journalFile, timeScale: 1 }); // the first retry would wait 15 s
    try {
      await first.v3.createBatch(b);
      await finished(b.out_batch_no, first.v3);
      const attempts = async () => ((await first.admin('state')).callbacks as { attempts: number }).attempts;
      while ((await attempts()) < 1) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await first.stop();
    }
    accepting = true;
    const second = await startTestSandbox({ journalFile });
    try {
      await waitFor(() => got.length >= 1);
      expect(second.v3.readNotification(got[0]!.headers, got[0]!.body)).toMatchObject({
        notification: { event_type: 'MCHTRANSFER.BATCH.FINISHED' },
        resource: { out_batch_no: b.out_batch_no, batch_status: 'FINISHED' },
      });
    } finally {
      await second.stop();
    }
    const third = await startTestSandbox({ journalFile });
    await new Promise((r) => setTimeout(r, 100));
    await third.stop();
    flaky.close();
    expect(got).toHaveLength(1);
  });

  it('still fails, once, the payments an injected late failure was due to fail', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    const b = batch([{ amount: 140 }]);
    const v2 = transfer(no('L'), 160);
    const first = await startTestSandbox({ journalFile, stepMs: 200 }); // late failures come 25 steps (5 s) after payment
    const balance = (await first.admin('state')).balanceFen as number;
    try {
      await first.admin('faults', { lateFail: 2 });
      expect(await first.v2.transfer(v2)).toMatchObject({ ok: true });
      await first.v3.createBatch(b);
      expect((await finished(b.out_batch_no, first.v3)).transfer_detail_list!.map((d) => d.detail_status)).toEqual([
        'SUCCESS',
      ]);
    } finally {
      await first.stop();
    }
    const second = await startTestSandbox({ journalFile, stepMs: 4 });
    try {
      for (let i = 0; i < 200; i++) {
        const [got, info] = [
          await second.v3.getBatch(b.out_batch_no, { offset: 0, limit: 100 }),
          await second.v2.getTransferInfo(v2.partner_trade_no),
        ];
        if (
          got.ok &&
          got.data.transfer_detail_list![0]!.detail_status === 'FAIL' &&
          info.ok &&
          info.fields.status === 'FAILED'
        )
          break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await second.v2.getTransferInfo(v2.partner_trade_no)).toMatchObject({
        ok: true,
        fields: { status: 'FAILED', reason: 'ACCOUNT_FROZEN' },
      });
      expect(await second.v3.getBatch(b.out_batch_no, { offset: 0, limit: 100 })).toMatchObject({
        ok: true,
        data: { transfer_detail_list: [{ detail_status: 'FAIL' }] },
      });
      expect(await second.admin('state')).toMatchObject({ balanceFen: balance, flows: 4 }); // two payments, two refunds
    } finally {
      await second.stop();
    }
  });

  it('does not pay a detail again when it crashed after paying and before recording the batch finished', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    const b = batch([{ amount: 150 }, { amount: 250 }]);
    const first = await startTestSandbox({ journalFile });
    await first.v3.createBatch(b);
    for (let s = await first.admin('state'); (s.flows as number) < 2; s = await first.admin('state'))
      await new Promise((r) => setTimeout(r, 20));
    const balance = (await first.admin('state')).balanceFen as number;
    await first.stop();
    // The crash: both payments are journaled, the batch's FINISHED state is not.
    const lines = readFileSync(journalFile, 'utf8').trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ kind: 'batch', value: { view: { batch_status: 'FINISHED' } } });
    writeFileSync(journalFile, `${lines.slice(0, -1).join('\n')}\n`);

    const second = await startTestSandbox({ journalFile });
    try {
      await finished(b.out_batch_no, second.v3);
      expect(await second.admin('state')).toMatchObject({ balanceFen: balance, flows: 2 });
    } finally {
      await second.stop();
    }
  });
});
