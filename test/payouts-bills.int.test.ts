// Transfer bills end to end, as a user lives them: the threshold creates a bill, the user's app lists
// it through the claim endpoint (what wx.requestMerchantTransfer takes), and the user confirms it, or
// never does (it closes and the money comes back), or an operator or the risk re-check cancels it
// first. The sandbox's user never confirms on their own (SANDBOX_AUTO_CONFIRM_MS=-1): the test taps.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sandboxMerchant } from '../payouts/sandbox/defaults.js';
import { person, TEST_APP } from '../rewards/test-support.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${Date.now()}`);
const bills = (payoutsEnv: Record<string, string> = {}, sandboxEnv: Record<string, string> = {}) =>
  createPayoutsWorld({
    sandboxEnv: { SANDBOX_AUTO_CONFIRM_MS: '-1', ...sandboxEnv },
    payoutsEnv: { PAYOUTS_API: 'v3_bill', PAYOUTS_BILL_WAIT_POLL_MS: '600000', ...payoutsEnv },
  });
const billNo = (payoutId: string) => payoutId.replaceAll('-', '');
interface Claimable {
  payout_id: string;
  amount_fen: number;
  mchId: string;
  appId: string;
  package: string | null;
  openId: string;
  expires_at: string;
  retry_after_ms?: number;
}

/** What `user`'s app lists, once `ready` holds of it (the claim endpoint, asked every 200 ms). */
async function claimed(user: string, ready: (list: Claimable[]) => boolean, timeoutMs = 20_000): Promise<Claimable[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await w!.claim(user);
    expect(res.status).toBe(200);
    const list = res.body.payouts as Claimable[];
    if (ready(list)) return list;
    if (Date.now() > deadline) {
      const { rows } = await w!.world.pool.query(
        'select t.state, t.provider_state, t.package_at, t.next_poll_at, b.state as batch_state from payout_transfers t left join payout_batches b using (batch_no) where t.user_id = $1',
        [person(user)],
      );
      throw new Error(`claim of ${user}: ${JSON.stringify(list)}; transfers ${JSON.stringify(rows)}`);
    }
    await sleep(200);
  }
}
const withPackage = (n: number) => (list: Claimable[]) => list.length === n && list.every((c) => c.package);

async function balance(userId: string) {
  return (await w!.world.api(w!.rewards.port, 'GET', `/v1/users/${userId}/balance`, { token: w!.world.token(userId) }))
    .body;
}
async function history(payoutId: string) {
  const { rows } = await w!.world.pool.query<{ state: string; detail: Record<string, unknown> }>(
    'select state, detail from payout_history where payout_id = $1 order by at, state',
    [payoutId],
  );
  return rows;
}
const transfer = async (payoutId: string) =>
  (
    await w!.world.pool.query<{ provider_state: string; cancel_requested: boolean }>(
      'select provider_state, cancel_requested_at is not null as cancel_requested from payout_transfers where payout_id = $1',
      [payoutId],
    )
  ).rows[0];

describe('transfer bills the user confirms', () => {
  it('pays after the user confirms through the claim endpoint', async () => {
    w = await bills({ PAYOUTS_BILL_WAIT_POLL_MS: '300' });
    const payouts = await w.start();
    const [u, other] = users('confirm', 2);
    await w.earn([u!], 130);
    const [c] = await claimed(u!, withPackage(1));
    expect(c).toEqual({
      payout_id: expect.any(String),
      amount_fen: 130,
      mchId: sandboxMerchant.mchid,
      appId: 'wxtestapp',
      package: expect.stringMatching(/.{16}/),
      openId: w.openid(`wx-${u}`),
      expires_at: expect.any(String),
    });
    // Queried while it waits, whose answers carry no package: the package is kept.
    const queries = async () =>
      (await w!.sandboxState()).calls['GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}'] ?? 0;
    for (let i = 0; i < 100 && (await queries()) < 2; i++) await sleep(100);
    expect(await queries()).toBeGreaterThanOrEqual(2);
    expect((await w.claim(u!)).body).toEqual({ payouts: [c] });
    expect((await w.sandboxState()).calls['POST /v3/fund-app/mch-transfer/transfer-bills']).toBe(1); // never needed again
    // The operator names the person (App-Id and user_id); a user lists only their own.
    const operator = w.world.config.REWARDS_OPERATOR_TOKEN;
    const path = `/v1/payouts?awaiting=confirmation&user_id=${encodeURIComponent(u!)}`;
    expect(
      (await w.world.api(payouts.port, 'GET', path, { token: operator, headers: { 'app-id': TEST_APP } })).body,
    ).toEqual({ payouts: [c] });
    expect((await w.world.api(payouts.port, 'GET', path, { token: operator })).body).toMatchObject({
      error: 'missing_app_id',
    });
    expect(
      (
        await w.world.api(payouts.port, 'GET', '/v1/payouts?awaiting=confirmation', {
          token: operator,
          headers: { 'app-id': TEST_APP },
        })
      ).body,
    ).toMatchObject({ error: 'missing_user_id' });
    expect((await w.world.api(payouts.port, 'GET', path, { token: w.world.token(other!) })).status).toBe(403);
    expect(
      (
        await w.world.api(payouts.port, 'GET', '/v1/payouts?awaiting=confirmation', {
          token: w.world.token(u!, 'other.app'),
        })
      ).body,
    ).toEqual({ payouts: [] });
    expect((await w.world.api(payouts.port, 'GET', '/v1/payouts', { token: w.world.token(u!) })).body).toMatchObject({
      error: 'invalid_query',
    });
    expect((await w.world.api(payouts.port, 'GET', '/v1/payouts?awaiting=confirmation')).status).toBe(401);

    expect((await w.confirm(billNo(c!.payout_id))).status).toBe(200);
    expect(await w.settled(1, ['paid'], 30_000)).toEqual({ paid: 1 });
    expect(await balance(u!)).toEqual({ available: 0, held: 0, paid_out: 130 });
    expect((await w.sandboxState()).paidFen).toBe(130);
    expect((await w.claim(u!)).body).toEqual({ payouts: [] });
    expect(await w.world.audit()).toEqual([]);
  });

  it('a bill first answered ACCEPTED gets its package after a re-create and is served by the claim endpoint', async () => {
    w = await bills();
    await w.faults({ billAccepted: 1 });
    const payouts = await w.start();
    const [u] = users('accepted', 1);
    await w.earn([u!], 120);
    const [c] = await claimed(u!, withPackage(1));
    const calls = (await w.sandboxState()).calls;
    expect(calls['POST /v3/fund-app/mch-transfer/transfer-bills']).toBe(2); // the create answered ACCEPTED, and the create sent again
    expect(calls['GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}']).toBeGreaterThanOrEqual(1); // the query that found it waiting
    expect(await payouts.metrics.registry.getSingleMetricAsString('payouts_bill_packages_refreshed_total')).toMatch(
      / 1$/m,
    );
    expect(await transfer(c!.payout_id)).toEqual({ provider_state: 'WAIT_USER_CONFIRM', cancel_requested: false });
    expect((await w.confirm(billNo(c!.payout_id))).status).toBe(200);
    expect(await w.settled(1, ['paid'], 30_000)).toEqual({ paid: 1 });
    expect(await w.world.audit()).toEqual([]);
  });

  it('lists a bill whose package went stale with package null and retry_after_ms, and serves a fresh one once fetched', async () => {
    w = await bills({ PAYOUTS_PACKAGE_MAX_AGE_MS: '1000' });
    await w.start();
    const [u] = users('stale', 1);
    await w.earn([u!], 110);
    const [first] = await claimed(u!, withPackage(1));
    await sleep(1_100);
    const [stale] = await claimed(u!, (list) => list.length === 1);
    expect(stale).toMatchObject({ payout_id: first!.payout_id, package: null, retry_after_ms: expect.any(Number) });
    const [fresh] = await claimed(u!, withPackage(1), 10_000);
    expect(fresh!.package).toEqual(expect.any(String));
    expect((await w.sandboxState()).calls['POST /v3/fund-app/mch-transfer/transfer-bills']).toBeGreaterThanOrEqual(2);
  });
});

describe('transfer bills nobody confirms, or someone cancels', () => {
  it(
    "a bill nobody confirms closes, its money returns to the user's available balance, and the next threshold opens a fresh bill",
    { timeout: 90_000 },
    async () => {
      w = await bills();
      await w.start();
      const [u] = users('expire', 1);
      await w.earn([u!], 120);
      const [first] = await claimed(u!, withPackage(1));
      // Never two at once: an earning while the bill waits is credited, and opens nothing.
      await w.earn([u!], 30);
      for (let i = 0; i < 100 && (await balance(u!)).available !== 30; i++) await sleep(100);
      expect(await balance(u!)).toEqual({ available: 30, held: 120, paid_out: 0 });
      expect(await w.states()).toEqual({ batched: 1 });
      // The sandbox closes it after 24 h × SANDBOX_TIME_SCALE (8.6 s) and calls back.
      expect(await w.settled(1, ['released'], 30_000)).toEqual({ released: 1 });
      expect(await balance(u!)).toEqual({ available: 150, held: 0, paid_out: 0 });
      expect((await transfer(first!.payout_id))?.provider_state).toMatch(/^(FAIL|CANCELLED)$/);
      // Waiting for its user, it was not queried every PAYOUTS_POLL_MS (1.5 s): its callback's query settled it.
      expect(
        (await w.sandboxState()).calls['GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}'],
      ).toBeLessThanOrEqual(2);
      expect((await w.claim(u!)).body).toEqual({ payouts: [] });

      await w.earn([u!], 10);
      const [next] = await claimed(u!, withPackage(1));
      expect(next).toMatchObject({ amount_fen: 160 });
      expect(next!.payout_id).not.toBe(first!.payout_id);
      expect((await w.confirm(billNo(next!.payout_id))).status).toBe(200);
      expect(await w.settled(2, ['paid', 'released'], 30_000)).toEqual({ released: 1, paid: 1 });
      expect(await balance(u!)).toEqual({ available: 0, held: 0, paid_out: 160 });
      expect(await w.world.audit()).toEqual([]);
    },
  );

  it('cancels before confirmation and releases', async () => {
    w = await bills();
    await w.start();
    const [u] = users('cancel', 1);
    await w.earn([u!], 140);
    const [c] = await claimed(u!, withPackage(1));
    const cancelled = await w.cli(['cancel', c!.payout_id]);
    expect(cancelled).toMatchObject({ code: 0, stdout: expect.stringContaining('CANCELING') });
    expect(await w.settled(1, ['released'], 30_000)).toEqual({ released: 1 });
    expect(await balance(u!)).toEqual({ available: 140, held: 0, paid_out: 0 });
    expect(await transfer(c!.payout_id)).toEqual({ provider_state: 'CANCELLED', cancel_requested: true });
    expect(
      (await w.world.api(w.port, 'GET', `/v1/payouts/${c!.payout_id}`, { token: w.world.token(u!) })).body,
    ).toMatchObject({ state: 'released', provider_state: 'CANCELLED' });
    const states = (await history(c!.payout_id)).map((h) => h.state);
    expect(states).toEqual(expect.arrayContaining(['cancel_requested', 'provider_failed', 'released']));
    expect(states.indexOf('cancel_requested')).toBeLessThan(states.indexOf('provider_failed'));
    expect((await w.claim(u!)).body).toEqual({ payouts: [] });
    expect((await w.confirm(billNo(c!.payout_id))).status).toBe(400); // too late to tap
    expect(await w.cli(['cancel', c!.payout_id])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no transfer bill in flight'),
    });
    expect((await w.sandboxState()).paidFen).toBe(0);
    expect(await w.world.audit()).toEqual([]);
  });

  it('a risk flag raised while a bill waits cancels it', async () => {
    w = await bills({ PAYOUTS_BILL_WAIT_POLL_MS: '1000' });
    await w.start();
    const [flagged, clean] = users('risk', 2);
    await w.earn([flagged!, clean!], 120);
    const [bill] = await claimed(flagged!, withPackage(1));
    await claimed(clean!, withPackage(1));
    // The aggregator flags the person's traffic after the bill was formed: the flags come on their next earning.
    await w.earn([flagged!], 30, () => ({ userFlags: ['click_injection'] }));
    expect(await w.settled(1, ['released'], 30_000)).toMatchObject({ released: 1 });
    expect(await balance(flagged!)).toEqual({ available: 150, held: 0, paid_out: 0 });
    expect((await history(bill!.payout_id)).find((h) => h.state === 'cancel_requested')?.detail).toEqual({
      by: 'risk',
      reason: 'fraud_signals',
      signals: ['click_injection'],
    });
    const [kept] = await claimed(clean!, withPackage(1));
    expect((await w.confirm(billNo(kept!.payout_id))).status).toBe(200);
    expect(await w.settled(2, ['paid', 'released'], 30_000)).toEqual({ released: 1, paid: 1 });
    expect(
      await w.world.pool.query('select user_id from payouts where state = $1', ['paid']).then((r) => r.rows),
    ).toEqual([{ user_id: person(clean!) }]);
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('a transfer WeChat refuses alone', () => {
  it(
    'one poisoned bill among good ones: the others are paid, it waits in review, approve pays it after the fault is cleared',
    { timeout: 90_000 },
    async () => {
      w = await bills();
      const payouts = await w.start();
      const [good, bad, other] = users('poison', 3);
      await w.faults({ refuseOpenids: { [w.openid(`wx-${bad}`)]: 'PARAM_ERROR' } });
      await w.earn([good!, bad!, other!], 120);
      for (const u of [good!, other!]) {
        const [c] = await claimed(u, withPackage(1));
        expect((await w.confirm(billNo(c!.payout_id))).status).toBe(200);
      }
      expect(await w.settled(2, ['paid'], 30_000)).toEqual({ paid: 2, review: 1 });
      const {
        rows: [held],
      } = await w.world.pool.query<{ payout_id: string; fail_reason: string }>(
        'select payout_id, fail_reason from payout_transfers where user_id = $1',
        [person(bad!)],
      );
      expect(held).toMatchObject({ fail_reason: 'PARAM_ERROR' });
      expect((await history(held!.payout_id)).find((h) => h.state === 'review')?.detail).toMatchObject({
        reason: 'PARAM_ERROR',
        message: expect.stringContaining('PARAM_ERROR'),
        batch_no: expect.any(String),
        note: expect.stringContaining('created nothing'),
      });
      expect(await balance(bad!)).toEqual({ available: 0, held: 120, paid_out: 0 });
      // Its batch finished with the others' outcomes: nothing went to attention.
      for (
        let i = 0;
        i < 100 && (await w.world.pool.query("select 1 from payout_batches where state <> 'finished'")).rowCount! > 0;
        i++
      )
        await sleep(100);
      expect((await w.world.pool.query('select state from payout_batches')).rows.map((r) => r.state)).toEqual(
        expect.arrayContaining(['finished']),
      );
      expect((await w.world.pool.query("select 1 from payout_batches where state <> 'finished'")).rowCount).toBe(0);
      expect(await payouts.metrics.registry.getSingleMetricAsString('payouts_batches_needing_attention_total')).toMatch(
        / 0$/m,
      );
      expect(await w.world.audit()).toEqual([]);

      // The cause is fixed; a person approves: the same number goes out in a later batch and pays.
      await w.faults({ refuseOpenids: {} });
      expect(await w.cli(['review', 'approve', held!.payout_id])).toMatchObject({ code: 0 });
      const [c] = await claimed(bad!, withPackage(1));
      expect(c!.payout_id).toBe(held!.payout_id);
      expect((await w.confirm(billNo(c!.payout_id))).status).toBe(200);
      expect(await w.settled(3, ['paid'], 30_000)).toEqual({ paid: 3 });
      expect(await balance(bad!)).toEqual({ available: 0, held: 0, paid_out: 120 });
      expect((await w.sandboxState()).paidFen).toBe(360);
      expect(await w.world.audit()).toEqual([]);
    },
  );
});

/** Runs per crash point; PAYOUT_CRASH_RUNS=20 for the long mode. */
const CRASH_RUNS = Number(process.env.PAYOUT_CRASH_RUNS ?? 2);

describe('crashes', () => {
  // Each run: a payee who confirms, and a second person who confirms too, or (cancel_called) is flagged
  // while their bill waits, so the worker's risk re-check cancels it. The worker is SIGKILLed right
  // after the step; a fresh one carries on from Postgres. Nothing is paid twice, nothing is lost.
  it.each(['formed', 'called', 'package', 'recorded', 'cancel_called'] as const)(
    'pays or releases exactly once when the worker is SIGKILLed right after %s',
    { timeout: 60_000 + CRASH_RUNS * 45_000 },
    async (step) => {
      // A crashed worker's job is taken up again after its lock expires (~15 s): bills close after 86 s here.
      w = await bills({ PAYOUTS_BILL_WAIT_POLL_MS: '1000' }, { SANDBOX_TIME_SCALE: '0.001' });
      if (step === 'package') await w.faults({ billAccepted: 1_000 });
      let paidFen = 0;
      const want: Record<string, number> = {};
      for (let run = 0; run < CRASH_RUNS; run++) {
        const crashing = w.spawn({ CRASH_AT: step });
        const [payee, second] = users(`crash-${step}-${run}`, 2);
        const amount = 100 + run;
        await w.earn([payee!, second!], amount);
        if (step === 'cancel_called') {
          // Flagged only once the bill waits for them (the spawned worker serves no API until it is up).
          const waits = async () =>
            (
              await w!.world.pool.query(
                "select 1 from payout_transfers where user_id = $1 and provider_state = 'WAIT_USER_CONFIRM'",
                [person(second!)],
              )
            ).rowCount === 1;
          for (let i = 0; i < 300 && !(await waits()); i++) await sleep(100);
          await w.earn([second!], 30, () => ({ userFlags: ['click_injection'] }));
        }
        expect(await crashing.exited).toBe('SIGKILL');
        const payouts = await w.start();
        for (const u of step === 'cancel_called' ? [payee!] : [payee!, second!]) {
          const [c] = await claimed(u, withPackage(1), 30_000);
          expect((await w.confirm(billNo(c!.payout_id))).status).toBe(200);
          paidFen += amount;
          want.paid = (want.paid ?? 0) + 1;
        }
        if (step === 'cancel_called') want.released = (want.released ?? 0) + 1;
        const total = Object.values(want).reduce((a, b) => a + b, 0);
        expect(await w.settled(total, ['paid', 'released'], 45_000)).toEqual(want);
        await payouts.stop();
      }
      expect((await w.sandboxState()).paidFen).toBe(paidFen);
      expect(await w.world.audit()).toEqual([]);
    },
  );
});
