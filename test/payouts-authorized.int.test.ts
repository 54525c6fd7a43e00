// Transfer bills without a confirm page (PAYOUTS_BILL_CONFIRM_MODE=authorized): a user who authorized
// once is paid with no page, payout after payout; a user who did not gets the ordinary bill, which
// waits for their confirmation, so the mode never blocks money. The sandbox's user never confirms a
// bill on their own (SANDBOX_AUTO_CONFIRM_MS=-1).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sandboxMerchant } from '../payouts/sandbox/defaults.js';
import { person } from '../rewards/test-support.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});
const user = (prefix: string) => `${prefix}-${Date.now()}`;
const authorizedWorld = () =>
  createPayoutsWorld({
    sandboxEnv: { SANDBOX_AUTO_CONFIRM_MS: '-1' },
    payoutsEnv: { PAYOUTS_API: 'v3_bill', PAYOUTS_BILL_CONFIRM_MODE: 'authorized', PAYOUTS_BILL_WAIT_POLL_MS: '300' },
  });
const authorization = (u: string, method: 'GET' | 'POST') =>
  w!.world.api(w!.port, method, '/v1/payouts/authorization', { token: w!.world.token(u) });
const calls = async () => (await w!.sandboxState()).calls;
const transfers = async (u: string) =>
  (
    await w!.world.pool.query<{ state: string; provider_state: string | null; authorization_id: string | null }>(
      'select state, provider_state, authorization_id from payout_transfers where user_id = $1 order by created_at',
      [person(u)],
    )
  ).rows;

describe('no-confirmation mode', () => {
  it(
    'pays a user who authorized once, twice, with no confirmation; a user who did not gets a bill waiting for confirmation',
    { timeout: 90_000 },
    async () => {
      w = await authorizedWorld();
      await w.start();
      const [u, other] = [user('authorized'), user('page')];

      // Not linked yet: nothing to authorize.
      expect((await authorization(u, 'POST')).body).toMatchObject({ error: 'not_linked' });
      const linked = await w.world.api(w.rewards.port, 'POST', `/v1/users/${u}/wechat/link`, {
        token: w.world.token(u),
        body: { code: await w.world.oauthCode(`wx-${u}`) },
      });
      expect(linked.status).toBe(200);
      expect((await authorization(u, 'GET')).status).toBe(404);
      const asked = await authorization(u, 'POST');
      expect(asked).toMatchObject({
        status: 200,
        body: {
          mchId: sandboxMerchant.mchid,
          appId: 'wxtestapp',
          package: expect.stringMatching(/.{16}/),
          state: 'WAIT_USER_CONFIRM',
        },
      });
      expect((await authorization(u, 'POST')).body).toEqual(asked.body); // asked again: the same request
      expect((await authorization(u, 'GET')).body).toMatchObject({ state: 'WAIT_USER_CONFIRM' });
      // The user's one tap on the authorize page the package opened.
      const tap = await fetch(`http://127.0.0.1:${w.world.sandbox.adminPort}/sandbox/authorizations/confirm`, {
        method: 'POST',
        body: JSON.stringify({ package: asked.body.package }),
      });
      expect(tap.status).toBe(200);
      expect((await authorization(u, 'GET')).body).toEqual({
        mchId: sandboxMerchant.mchid,
        appId: 'wxtestapp',
        package: null,
        state: 'AUTHORIZED',
      });

      await w.earn([u], 130);
      expect(await w.settled(1, ['paid'], 30_000)).toEqual({ paid: 1 });
      await w.earn([u], 140);
      expect(await w.settled(2, ['paid'], 30_000)).toEqual({ paid: 2 });
      expect(await transfers(u)).toEqual([
        { state: 'succeeded', provider_state: 'SUCCESS', authorization_id: expect.stringMatching(/\w{16}/) },
        { state: 'succeeded', provider_state: 'SUCCESS', authorization_id: expect.stringMatching(/\w{16}/) },
      ]);
      expect(await calls()).toMatchObject({ 'POST /v3/fund-app/mch-transfer/transfer-bills/transfer': 2 });
      expect((await calls())['POST /v3/fund-app/mch-transfer/transfer-bills']).toBeUndefined(); // no bill for a page
      expect((await w.claim(u)).body).toEqual({ payouts: [] });

      // Never authorized: the ordinary bill, waiting for the user's confirmation.
      await w.earn([other], 120);
      let list: { package: string | null }[] = [];
      for (let i = 0; i < 100 && !list[0]?.package; i++, await sleep(200))
        list = (await w.claim(other)).body.payouts as typeof list;
      expect(list).toEqual([expect.objectContaining({ amount_fen: 120, package: expect.any(String) })]);
      expect(await transfers(other)).toEqual([
        { state: 'batched', provider_state: 'WAIT_USER_CONFIRM', authorization_id: '' },
      ]);
      expect((await calls())['POST /v3/fund-app/mch-transfer/transfer-bills']).toBe(1);
      expect((await w.sandboxState()).paidFen).toBe(270);
      expect(await w.world.audit()).toEqual([]);
    },
  );
});
