// Payouts end to end on the real stack: earnings cross the threshold, rewards holds the money and
// requests a payout, the payouts service batches and pays it through the sandbox (its own process),
// and the ledger settles or releases it. The audit passes after every scenario.
import { afterEach, describe, expect, it } from 'vitest';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${Date.now()}`);

async function balance(userId: string) {
  return (await w!.world.api(w!.rewards.port, 'GET', `/v1/users/${userId}/balance`, { token: w!.world.token(userId) })).body;
}

describe('payouts through v3 batch transfers', () => {
  it('pays linked users who cross the threshold in one batch, settles them, and shows each payout\'s history', async () => {
    w = await createPayoutsWorld();
    const payouts = await w.start();
    const list = users('pay', 5);
    await w.earn(list, 150);
    expect(await w.settled(5)).toEqual({ paid: 5 });
    expect(await balance(list[0]!)).toEqual({ available: 0, held: 0, paid_out: 150 });
    const sandbox = await w.sandboxState();
    expect(sandbox.paidFen).toBe(750);
    expect(sandbox.calls['POST /v3/transfer/batches']).toBe(1);
    const { rows } = await w.world.pool.query<{ payout_id: string; user_id: string }>('select payout_id, user_id from payouts limit 1');
    const [{ payout_id: id, user_id: owner }] = rows as [{ payout_id: string; user_id: string }];
    const mine = await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token(owner) });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ state: 'paid', amount_fen: 150, api: 'v3_batch' });
    expect((mine.body.history as { state: string }[]).map((h) => h.state)).toEqual(['requested', 'accepted', 'batched', 'provider_succeeded', 'paid']);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token('someone-else') })).status).toBe(404);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.config.REWARDS_OPERATOR_TOKEN })).status).toBe(200);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`)).status).toBe(401);
    expect(await w.world.audit()).toEqual([]);
  });

  it('releases a transfer the provider fails, with its reason, and pays the rest', async () => {
    w = await createPayoutsWorld();
    await w.start();
    const [bad, ...good] = users('fail', 3);
    await w.faults({ failOpenids: { [w.openid(`wx-${bad}`)]: 'ACCOUNT_FROZEN' } });
    await w.earn([bad!, ...good], 120);
    expect(await w.settled(3)).toEqual({ paid: 2, released: 1 });
    expect(await balance(bad!)).toEqual({ available: 120, held: 0, paid_out: 0 });
    const { rows } = await w.world.pool.query('select fail_reason from payout_transfers where state = $1', ['failed']);
    expect(rows).toEqual([{ fail_reason: 'ACCOUNT_FROZEN' }]);
    expect(await w.world.audit()).toEqual([]);
  });

  it('never pays twice when the provider did the work but answered SYSTEM_ERROR or nothing, or refused for a while', async () => {
    w = await createPayoutsWorld({ payoutsEnv: { WECHATPAY_TIMEOUT_MS: '500' } });
    await w.faults({ systemErrorAfterWork: 1, timeoutAfterWork: 1, frequencyLimited: 1, notEnough: 1 });
    await w.start();
    const list = users('unknown', 4);
    await w.earn(list, 110);
    expect(await w.settled(4, ['paid'], 90_000)).toEqual({ paid: 4 });
    expect((await w.sandboxState()).paidFen).toBe(440);
    expect(await w.world.audit()).toEqual([]);
  });

  it('holds a payout at 2,000 yuan for review, keeping the money held', async () => {
    w = await createPayoutsWorld();
    const payouts = await w.start();
    const [big] = users('big', 1);
    await w.earn([big!], 200_000);
    await w.settled(1, ['review']);
    expect(await balance(big!)).toEqual({ available: 0, held: 200_000, paid_out: 0 });
    const { rows } = await w.world.pool.query<{ payout_id: string }>('select payout_id from payouts');
    expect(await payouts.store.review(rows[0]!.payout_id, 'reject')).toBe('failed');
    expect(await w.settled(1, ['released'])).toEqual({ released: 1 });
    expect(await w.world.audit()).toEqual([]);
  });
});

describe.each(['v2_transfer', 'v3_bill'] as const)('payouts through %s', (api) => {
  it('pays and settles, and releases a failed transfer', async () => {
    w = await createPayoutsWorld({ payoutsEnv: { PAYOUTS_API: api } });
    await w.start();
    const [bad, ...good] = users(api, 3);
    await w.faults({ failOpenids: { [w.openid(`wx-${bad}`)]: 'NAME_MISMATCH' } });
    await w.earn([bad!, ...good], 130);
    expect(await w.settled(3)).toEqual({ paid: 2, released: 1 });
    expect((await w.sandboxState()).paidFen).toBe(260);
    expect(await w.world.audit()).toEqual([]);
  });
});
