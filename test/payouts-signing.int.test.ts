// Answers as WeChat signs them: WeChat does not sign its 401 SIGN_ERROR to a request it could not
// verify (here: a merchant id that is not the certificate's), so that unsigned answer is read as
// WeChat's own. It puts the batch or bill into `attention` once, raises the alerting metric and keeps
// the money held, instead of being retried forever as a network fault.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});

it.each(['v3_bill', 'v3_batch'] as const)(
  '%s: an unsigned 401 SIGN_ERROR lands in attention once, raises the metric, and holds the money',
  { timeout: 60_000 },
  async (api) => {
    w = await createPayoutsWorld({ payoutsEnv: { PAYOUTS_API: api, WECHATPAY_MCHID: '1900000110' } });
    const payouts = await w.start();
    const user = `unsigned-${api}-${Date.now()}`;
    await w.earn([user], 120);
    const batch = async () =>
      (await w!.world.pool.query<{ state: string; detail: string }>('select state, detail from payout_batches')).rows;
    for (let i = 0; i < 200 && (await batch())[0]?.state !== 'attention'; i++) await sleep(100);
    expect(await batch()).toEqual([{ state: 'attention', detail: expect.stringContaining('SIGN_ERROR') }]);

    // Not retried: over several poll and sweep periods (1.5 s, 0.5 s), WeChat is not called again.
    const calls = async () =>
      Object.entries((await w!.sandboxState()).calls)
        .filter(([route]) => route.includes('/v3/'))
        .reduce((n, [, c]) => n + c, 0);
    const before = await calls();
    await sleep(4_000);
    expect(await calls()).toBe(before);
    expect(await payouts.metrics.registry.getSingleMetricAsString('payouts_batches_needing_attention_total')).toMatch(
      / 1$/m,
    );
    expect(await w.states()).toEqual({ batched: 1 });
    const balance = await w.world.api(w.rewards.port, 'GET', `/v1/users/${user}/balance`, {
      token: w.world.token(user),
    });
    expect(balance.body).toEqual({ available: 0, held: 120, paid_out: 0 });
    expect(await w.world.audit()).toEqual([]);
  },
);
