// Reconciliation of the operating account end to end, against the sandbox playing WeChat: a transfer
// bill's money leaves the account when the bill waits for its user (day D) and comes back when the
// bill closes unconfirmed, the same day or the next. Whichever comes first, the bill being read or
// the bill's FAIL being seen here, nothing is left unexplained. The other account's bill never shows
// a payout, and a day with no operating flow is an empty bill.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFundflow } from '../payouts/sandbox/test-clients.js';
import { parseFundflowBill } from '../payouts/reconcile.js';
import { person } from '../rewards/test-support.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

// 24 h × 0.00005: an unconfirmed bill closes 4.3 s after it was created.
const CLOSE_MS = 4_320;
let w: PayoutsWorld;
beforeAll(async () => {
  w = await createPayoutsWorld({
    sandboxEnv: { SANDBOX_AUTO_CONFIRM_MS: '-1', SANDBOX_TIME_SCALE: '0.00005' },
    payoutsEnv: { PAYOUTS_API: 'v3_bill', PAYOUTS_BILL_WAIT_POLL_MS: '600000' },
  });
  await w.faults({ billsAtOnce: true });
});
afterAll(async () => {
  await w?.stop();
});
/** A payouts service for one test, stopped after it however it ends (its port is the world's). */
let service: Awaited<ReturnType<PayoutsWorld['start']>> | undefined;
const start = async () => (service = await w.start());
const stop = async () => {
  await service?.stop();
  service = undefined;
};
afterEach(stop);

const admin = async (path: string, body: unknown) =>
  (
    await fetch(`http://127.0.0.1:${w.world.sandbox.adminPort}/sandbox/${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
    })
  ).json() as Promise<Record<string, unknown>>;
/** Moves the sandbox's business clock `days` ahead of today; its China day. */
const clock = async (days: number) => (await admin('clock', { offsetMs: days * 86_400_000 })).day as string;
const user = (name: string) => `${name}-${Date.now()}`;
const transfer = async (u: string) =>
  (
    await w.world.pool.query<{ request_no: string; state: string; provider_state: string | null }>(
      'select request_no, state, provider_state from payout_transfers where user_id = $1',
      [person(u)],
    )
  ).rows[0];
async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`waited for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}
/** The bill is created and waits for its user: WeChat has taken the money from the operating account. */
const waiting = (u: string) =>
  until(
    `${u}'s bill waiting`,
    () => transfer(u),
    (t) => t?.provider_state === 'WAIT_USER_CONFIRM',
  );
const released = (u: string) =>
  until(
    `${u}'s bill failed`,
    () => transfer(u),
    (t) => t?.state === 'failed',
  );
const lastRun = async () =>
  (
    await w.world.pool.query<{
      bill_rows: number;
      matched: number;
      locked: number;
      queried: number;
      unexplained: number;
    }>('select bill_rows, matched, locked, queried, unexplained from reconciliation_runs order by run_id desc limit 1')
  ).rows[0];
const flowsOf = async (voucher: string) =>
  (
    await w.world.pool.query<{ bill_date: string; in_out: string; amount_fen: string }>(
      "select to_char(bill_date, 'YYYY-MM-DD') as bill_date, in_out, amount_fen from operating_flows where voucher_no = $1 order by in_out desc",
      [voucher],
    )
  ).rows;

describe('a transfer bill nobody confirms, reconciled on the operating account', () => {
  it('refund on day D: with the FAIL seen before the bill is read, and after', { timeout: 90_000 }, async () => {
    const day = await clock(0);
    let payouts = await start();
    const [early, late] = [user('same-early'), user('same-late')];
    await w.earn([early], 120);
    await waiting(early);
    await sleep(2_500);
    await w.earn([late], 130);
    await waiting(late);
    // Both wait for their users: the bill of D shows two debits, both locks.
    expect(await payouts.reconciler.run(day)).toMatchObject({ locked: 2, unexplained: [] });
    // The early bill closes and its FAIL is seen; the service stops before the late one closes.
    await released(early);
    await stop();
    await sleep(CLOSE_MS);
    // The late bill's money is back in D's bill, but nothing here has seen its FAIL: a query is queued.
    const cli = await w.cli(['reconcile', day]);
    expect(cli).toMatchObject({ code: 0 });
    expect(await lastRun()).toMatchObject({ queried: 1, unexplained: 0 });
    expect((await transfer(late))?.state).toBe('batched');
    payouts = await start(); // the queued query finds the bill FAIL
    await released(late);
    const again = await payouts.reconciler.run(day);
    expect(again).toMatchObject({ queried: 0, unexplained: [] });
    for (const u of [early, late])
      expect(await flowsOf((await transfer(u))!.request_no)).toEqual([
        { bill_date: day, in_out: 'out', amount_fen: u === early ? '120' : '130' },
        { bill_date: day, in_out: 'in', amount_fen: u === early ? '120' : '130' },
      ]);
    expect(await w.world.audit()).toEqual([]);
  });

  it('refund on day D+1: with the FAIL seen before bill D is read, and after', { timeout: 90_000 }, async () => {
    const day = await clock(0);
    const payouts = await start();
    const [early, late] = [user('next-early'), user('next-late')];
    await w.earn([early], 140);
    await waiting(early);
    await sleep(2_500);
    await w.earn([late], 150);
    await waiting(late);
    const next = await clock(1); // both debited on D; whatever happens from now on is on D+1
    await released(early);
    // Bill D: the early bill failed here, its refund is on a day not read yet; the late one still waits.
    expect(await payouts.reconciler.run(day)).toMatchObject({ locked: 2, queried: 0, unexplained: [] });
    await released(late);
    const d1 = await payouts.reconciler.run(next);
    expect(d1).toMatchObject({ locked: 0, queried: 0, unexplained: [] });
    expect(d1.matched).toBeGreaterThanOrEqual(2);
    expect(await flowsOf((await transfer(late))!.request_no)).toEqual([
      { bill_date: day, in_out: 'out', amount_fen: '150' },
      { bill_date: next, in_out: 'in', amount_fen: '150' },
    ]);
    // Read again, a bill adds no row twice.
    const kept = (await w.world.pool.query('select count(*)::int as n from operating_flows')).rows[0].n as number;
    await payouts.reconciler.run(next);
    expect((await w.world.pool.query('select count(*)::int as n from operating_flows')).rows[0].n).toBe(kept);
    expect(await payouts.reconciler.open()).toEqual([]);
    expect(await w.world.audit()).toEqual([]);
    await clock(0);
  });
});

describe('the accounts', () => {
  it('a day with flows in the basic account only is an empty operating bill, not an error', async () => {
    const payouts = await start();
    const day = await clock(10);
    await admin('topup', { amountFen: 50_000, move: false });
    expect(await readFundflow(w.world.sandbox.port, 'OPERATION', day)).toEqual({ code: 'NO_STATEMENT_EXIST' });
    expect(await payouts.reconciler.run(day)).toMatchObject({ billRows: 0, unexplained: [] });
    await clock(0);
  });

  it("the basic account's bill shows no payout", async () => {
    const day = await clock(0);
    await admin('topup', { amountFen: 10_000 });
    const basic = await readFundflow(w.world.sandbox.port, 'BASIC', day);
    const vouchers = parseFundflowBill((basic as { text: string }).text).map((r) => r.voucherNo);
    const payouts = (
      await w.world.pool.query<{ request_no: string }>('select request_no from payout_transfers')
    ).rows.map((r) => r.request_no);
    expect(payouts.length).toBeGreaterThanOrEqual(4);
    expect(vouchers.length).toBeGreaterThan(0);
    expect(vouchers.filter((v) => payouts.includes(v))).toEqual([]);
    const operation = parseFundflowBill(
      ((await readFundflow(w.world.sandbox.port, 'OPERATION', day)) as { text: string }).text,
    ).map((r) => r.voucherNo);
    expect(payouts.every((p) => operation.includes(p))).toBe(true);
  });
});

describe('the bill format', () => {
  // WeChat's fields start with a backtick and may hold commas and quotes (a remark typed by a person).
  it(
    'reconciles paid bills whose remarks hold commas and quotes, with nothing unexplained',
    { timeout: 60_000 },
    async () => {
      const payouts = await start();
      const day = await clock(20);
      await admin('faults', { billRemark: '奖励, "双倍", 第2轮' });
      const [a, b] = [user('comma-a'), user('comma-b')];
      await w.earn([a, b], 130);
      await Promise.all([waiting(a), waiting(b)]);
      for (const u of [a, b])
        expect((await admin(`transfer-bills/${(await transfer(u))!.request_no}/confirm`, {})).state).toBe(
          'TRANSFERING',
        );
      await until(
        'both paid',
        async () => [await transfer(a), await transfer(b)].map((t) => t?.state),
        (s) => s.every((x) => x === 'succeeded'),
      );
      const text = ((await readFundflow(w.world.sandbox.port, 'OPERATION', day)) as { text: string }).text;
      expect(text).toContain('双倍');
      const rows = parseFundflowBill(text);
      expect(rows.filter((r) => r.remark.includes('"双倍"'))).toHaveLength(2);
      expect(await payouts.reconciler.run(day)).toMatchObject({ billRows: 2, unexplained: [] });
      await admin('faults', { billRemark: '' });
      await clock(0);
    },
  );
});
