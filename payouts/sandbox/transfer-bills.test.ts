// Transfer bills in the sandbox as strict as WeChat (reference/wechatpay.md §5, December 2026
// corrections): states over time, packages only in create answers, the user's tap, expiry and
// cancel with their refunds, the operating account's debit, scene reports and https notify URLs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CreateBill } from '../wechat/v3-client.js';
import { sandboxMerchant } from './defaults.js';
import { startCallbackReceiver, startTestSandbox } from './test-clients.js';

type Sandbox = Awaited<ReturnType<typeof startTestSandbox>>;
let t: Sandbox;
let receiver: Awaited<ReturnType<typeof startCallbackReceiver>>;
const extra: Sandbox[] = [];
let seq = 0;
const bill = (over: Partial<CreateBill> = {}): CreateBill => ({
  appid: sandboxMerchant.appid,
  out_bill_no: `T${Date.now()}${seq++}`,
  transfer_scene_id: '1000',
  openid: 'oBillUser',
  transfer_amount: 300,
  transfer_remark: 'reward',
  notify_url: receiver.url,
  transfer_scene_report_infos: [
    { info_type: '活动名称', info_content: '看广告得奖励' },
    { info_type: '奖励说明', info_content: '观看广告获得奖励' },
  ],
  ...over,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 4_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let v = await read(); ; v = await read()) {
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(15);
  }
}
const state = async (s: Sandbox, no: string) => {
  const got = await s.v3.getBill(no);
  return got.ok ? got.data.state : got.code;
};
const balance = async (s: Sandbox) => (await s.admin('state')).balanceFen as number;
/** Another sandbox with its own settings, stopped after the test. */
const other = async (overrides: Parameters<typeof startTestSandbox>[0]) => {
  const s = await startTestSandbox(overrides);
  extra.push(s);
  return s;
};

beforeAll(async () => {
  t = await startTestSandbox();
  receiver = await startCallbackReceiver(() => t.v3);
});
afterEach(async () => {
  for (const s of extra.splice(0)) await s.stop();
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
});

describe('creating a bill', () => {
  it('answers WAIT_USER_CONFIRM with a package; a query never shows it; a repeat answers the same package', async () => {
    const b = bill();
    const created = await t.v3.createBill(b);
    expect(created).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM', package_info: expect.any(String) } });
    const got = await t.v3.getBill(b.out_bill_no);
    expect(got).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM' } });
    expect(got.ok && 'package_info' in got.data).toBe(false);
    expect(await t.v3.createBill(b)).toEqual(created);
  });

  it('with the billAccepted fault answers ACCEPTED, then moves to PROCESSING and WAIT_USER_CONFIRM a step apart', async () => {
    const s = await other({ stepMs: 150 });
    await s.admin('faults', { billAccepted: 1 });
    const b = bill({ notify_url: undefined });
    const created = await s.v3.createBill(b);
    expect(created).toMatchObject({ ok: true, data: { state: 'ACCEPTED' } });
    expect(created.ok && created.data.package_info).toBeUndefined();
    expect(
      await until(
        () => state(s, b.out_bill_no),
        (x) => x !== 'ACCEPTED',
      ),
    ).toBe('PROCESSING');
    expect(await s.v3.createBill(b)).toMatchObject({ ok: true, data: { state: 'PROCESSING' } });
    expect(
      await until(
        () => state(s, b.out_bill_no),
        (x) => x !== 'PROCESSING',
      ),
    ).toBe('WAIT_USER_CONFIRM');
    const again = await s.v3.createBill(b);
    expect(again).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM', package_info: expect.any(String) } });
    expect(await s.v3.createBill(b)).toEqual(again); // the same package each time
    expect(await s.v3.createBill(bill({ notify_url: undefined }))).toMatchObject({
      ok: true,
      data: { state: 'WAIT_USER_CONFIRM' },
    }); // one bill only
  });

  it('waits in PROCESSING while the operating account lacks the money, until a top-up', async () => {
    const s = await other({ balanceFen: 100 });
    const b = bill({ notify_url: undefined });
    expect(await s.v3.createBill(b)).toMatchObject({ ok: true, data: { state: 'PROCESSING' } });
    await sleep(100);
    expect(await state(s, b.out_bill_no)).toBe('PROCESSING');
    await s.admin('topup', { amountFen: 1_000 });
    expect(await s.v3.createBill(b)).toMatchObject({
      ok: true,
      data: { state: 'WAIT_USER_CONFIRM', package_info: expect.any(String) },
    });
    expect(await balance(s)).toBe(800);
  });

  it.each([
    [
      "only one of scene 1000's report entries",
      { transfer_scene_report_infos: [{ info_type: '活动名称', info_content: '看广告得奖励' }] },
      '需传入转账场景报备信息',
    ],
    ['no report entries', { transfer_scene_report_infos: [] }, '需传入转账场景报备信息'],
    ['an http notify_url', { notify_url: 'http://127.0.0.1:8082/v1/wechat/notify' }, 'notify_url'],
    ['a notify_url with a query', { notify_url: 'https://127.0.0.1:8082/v1/wechat/notify?x=1' }, 'notify_url'],
  ])('refuses %s with PARAM_ERROR', async (_name, over, message) => {
    const answer = await t.v3.createBill(bill(over as Partial<CreateBill>));
    expect(answer).toMatchObject({
      ok: false,
      status: 400,
      code: 'PARAM_ERROR',
      message: expect.stringContaining(message),
    });
  });
});

describe("the user's confirmation", () => {
  it('pays once the user taps, accepts a second tap in TRANSFERING, and calls back on SUCCESS over plain HTTP', async () => {
    const s = await other({ stepMs: 200 });
    const r = await startCallbackReceiver(() => s.v3);
    try {
      const b = bill({ notify_url: r.url });
      await s.v3.createBill(b);
      const tap = () => s.admin(`transfer-bills/${b.out_bill_no}/confirm`, {});
      expect(await tap()).toEqual({ state: 'TRANSFERING' });
      expect(await tap()).toEqual({ state: 'TRANSFERING' });
      expect(
        await until(
          () => state(s, b.out_bill_no),
          (x) => x === 'SUCCESS',
        ),
      ).toBe('SUCCESS');
      expect(await tap()).toMatchObject({ code: 'INVALID_REQUEST' });
      await until(
        async () => r.events().length,
        (n) => n > 0,
      );
      expect(r.events()).toEqual([
        expect.objectContaining({ type: 'MCHTRANSFER.BILL.FINISHED', out_bill_no: b.out_bill_no, state: 'SUCCESS' }),
      ]);
      expect(await s.admin('state')).toMatchObject({ paidFen: 300, lockedFen: 0 });
    } finally {
      await r.close();
    }
  });

  it('opens the bill a package names, as the page wx.requestMerchantTransfer opens; an unknown package opens nothing', async () => {
    const s = await other({ stepMs: 200 });
    const b = bill();
    const created = await s.v3.createBill(b);
    const pkg = created.ok ? created.data.package_info : undefined;
    expect(pkg).toEqual(expect.any(String));
    expect(await s.admin('transfer-bills/confirm', { package: `${pkg}x` })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await s.admin('transfer-bills/confirm', { package: pkg })).toEqual({
      out_bill_no: b.out_bill_no,
      state: 'TRANSFERING',
    });
    expect(
      await until(
        () => state(s, b.out_bill_no),
        (x) => x === 'SUCCESS',
      ),
    ).toBe('SUCCESS');
  });
});

describe('the operating account', () => {
  it('is debited when the bill waits for its user, and refunded when nobody confirms and it closes as FAIL OVERDUE_CLOSE', async () => {
    const s = await other({ timeScale: 0.00001 }); // 24 h -> 864 ms
    const r = await startCallbackReceiver(() => s.v3);
    try {
      const before = await balance(s);
      const b = bill({ notify_url: r.url });
      await s.v3.createBill(b);
      expect(await balance(s)).toBe(before - 300);
      expect(await s.admin('state')).toMatchObject({ paidFen: 0, lockedFen: 300 });
      expect(
        await until(
          () => s.v3.getBill(b.out_bill_no),
          (g) => g.ok && g.data.state !== 'WAIT_USER_CONFIRM',
        ),
      ).toMatchObject({ ok: true, data: { state: 'FAIL', fail_reason: 'OVERDUE_CLOSE' } });
      expect(await balance(s)).toBe(before);
      await until(
        async () => r.events().length,
        (n) => n > 0,
      );
      expect(r.events()).toEqual([
        expect.objectContaining({ type: 'MCHTRANSFER.BILL.FINISHED', state: 'FAIL', fail_reason: 'OVERDUE_CLOSE' }),
      ]);
      expect(await s.admin(`transfer-bills/${b.out_bill_no}/confirm`, {})).toMatchObject({ code: 'INVALID_REQUEST' });
    } finally {
      await r.close();
    }
  });

  it('closes an unconfirmed bill as CANCELLED when SANDBOX_BILL_CLOSE_STATE says so', async () => {
    const s = await other({ timeScale: 0.00001, billCloseState: 'CANCELLED' });
    const b = bill({ notify_url: undefined });
    await s.v3.createBill(b);
    expect(
      await until(
        () => s.v3.getBill(b.out_bill_no),
        (g) => g.ok && g.data.state !== 'WAIT_USER_CONFIRM',
      ),
    ).toMatchObject({ ok: true, data: { state: 'CANCELLED', fail_reason: 'OVERDUE_CLOSE' } });
  });

  it("is debited at the user's confirmation instead when SANDBOX_BILL_DEBIT_AT=confirm", async () => {
    const s = await other({ billDebitAt: 'confirm' });
    const before = await balance(s);
    const b = bill({ notify_url: undefined });
    expect(await s.v3.createBill(b)).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM' } });
    expect(await balance(s)).toBe(before);
    await s.admin(`transfer-bills/${b.out_bill_no}/confirm`, {});
    expect(
      await until(
        () => state(s, b.out_bill_no),
        (x) => x === 'SUCCESS',
      ),
    ).toBe('SUCCESS');
    expect(await balance(s)).toBe(before - 300);
  });

  it.each(['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'])(
    'cancels a bill in %s through CANCELING to CANCELLED, refunding what was debited, with a callback',
    async (from) => {
      const s = await other({ stepMs: 150, ...(from === 'PROCESSING' ? { balanceFen: 100 } : {}) });
      const r = await startCallbackReceiver(() => s.v3);
      try {
        if (from === 'ACCEPTED') await s.admin('faults', { billAccepted: 1 });
        const before = await balance(s);
        const b = bill({ notify_url: r.url });
        expect(await s.v3.createBill(b)).toMatchObject({ ok: true, data: { state: from } });
        expect(await s.v3.cancelBill(b.out_bill_no)).toMatchObject({ ok: true, data: { state: 'CANCELING' } });
        expect(
          await until(
            () => state(s, b.out_bill_no),
            (x) => x === 'CANCELLED',
          ),
        ).toBe('CANCELLED');
        expect(await balance(s)).toBe(before);
        expect(await s.v3.cancelBill(b.out_bill_no)).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
        await until(
          async () => r.events().length,
          (n) => n > 0,
        );
        expect(r.events()).toEqual([
          expect.objectContaining({ type: 'MCHTRANSFER.BILL.FINISHED', state: 'CANCELLED' }),
        ]);
        expect(await s.admin('state')).toMatchObject({ paidFen: 0, lockedFen: 0 });
      } finally {
        await r.close();
      }
    },
  );

  it('keeps a debit and its refund on the days the business clock says: D, then D+1', async () => {
    const s = await other({ timeScale: 0.00002 }); // 24 h -> 1.7 s
    await s.admin('faults', { billsAtOnce: true });
    const b = bill({ notify_url: undefined });
    const day = ((await s.admin('state')).clock as { day: string }).day;
    await s.v3.createBill(b);
    const next = ((await s.admin('clock', { offsetMs: 86_400_000 })) as { day: string }).day;
    expect(next > day).toBe(true);
    expect(
      await until(
        () => state(s, b.out_bill_no),
        (x) => x === 'FAIL',
      ),
    ).toBe('FAIL');
    const rows = async (d: string) =>
      ((await s.fundflow('OPERATION', d)) as { text: string }).text
        .split('\n')
        .filter((l) => l.includes(b.out_bill_no));
    expect(await rows(day)).toEqual([expect.stringContaining('`支出,`3.00,')]);
    expect(await rows(next)).toEqual([expect.stringContaining('`收入,`3.00,')]);
  });
});
