// The sandbox's no-confirmation authorizations (免确认收款授权, [U]): a user authorizes once on a page,
// and transfers naming that authorization pay with no page; until then, or for another openid, refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizedTransfer, CreateAuthorization } from '../wechat/v3-client.js';
import { sandboxMerchant } from './defaults.js';
import { startTestSandbox } from './test-clients.js';

let t: Awaited<ReturnType<typeof startTestSandbox>>;
let seq = 0;
const authz = (over: Partial<CreateAuthorization> = {}): CreateAuthorization => ({
  out_authorization_no: `A${Date.now()}${seq++}`,
  appid: sandboxMerchant.appid,
  openid: 'oAuthUser',
  transfer_scene_id: '1000',
  authorization_notify_url: 'https://127.0.0.1:1/v1/wechat/notify',
  ...over,
});
const transfer = (
  authorizationId: string,
  over: Partial<AuthorizedTransfer> & { openid?: string } = {},
): AuthorizedTransfer => ({
  appid: sandboxMerchant.appid,
  out_bill_no: `T${Date.now()}${seq++}`,
  transfer_scene_id: '1000',
  authorization_id: authorizationId,
  transfer_amount: 300,
  transfer_remark: 'reward',
  transfer_scene_report_infos: [
    { info_type: '活动名称', info_content: '看广告得奖励' },
    { info_type: '奖励说明', info_content: '观看广告获得奖励' },
  ],
  ...over,
});
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 4_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let v = await read(); ; v = await read()) {
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 15));
  }
}
/** An authorization the user has authorized (the admin tap); its authorization_id. */
async function authorized(over: Partial<CreateAuthorization> = {}) {
  const a = authz(over);
  await t.v3.createAuthorization(a);
  expect(await t.admin(`authorizations/${a.out_authorization_no}/confirm`, {})).toMatchObject({ state: 'AUTHORIZED' });
  const got = await t.v3.getAuthorization(a.out_authorization_no);
  if (!got.ok || !got.data.authorization_id) throw new Error(`not authorized: ${JSON.stringify(got)}`);
  return got.data.authorization_id;
}

beforeAll(async () => {
  t = await startTestSandbox();
});
afterAll(async () => t.stop());

describe('authorizations', () => {
  it('answers WAIT_USER_CONFIRM with a package, the same again for a repeat, and refuses the number with another body', async () => {
    const a = authz();
    const created = await t.v3.createAuthorization(a);
    expect(created).toMatchObject({
      ok: true,
      data: {
        out_authorization_no: a.out_authorization_no,
        state: 'WAIT_USER_CONFIRM',
        package_info: expect.any(String),
      },
    });
    expect(await t.v3.createAuthorization(a)).toEqual(created);
    expect(await t.v3.createAuthorization({ ...a, openid: 'oSomeoneElse' })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
    const got = await t.v3.getAuthorization(a.out_authorization_no);
    expect(got).toMatchObject({ ok: true, data: { state: 'WAIT_USER_CONFIRM' } });
    expect(got.ok && got.data.authorization_id).toBeFalsy();
    expect(await t.v3.getAuthorization('Anever')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('is authorized by the tap on the page its package opened, and gets an authorization_id', async () => {
    const a = authz();
    const created = await t.v3.createAuthorization(a);
    const pkg = created.ok ? created.data.package_info : '';
    expect(await t.admin('authorizations/confirm', { package: 'nope' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await t.admin('authorizations/confirm', { package: pkg })).toMatchObject({ state: 'AUTHORIZED' });
    expect(await t.v3.getAuthorization(a.out_authorization_no)).toMatchObject({
      ok: true,
      data: { state: 'AUTHORIZED', authorization_id: expect.stringMatching(/^\w{16,}$/) },
    });
  });
});

describe('transfers with an authorization', () => {
  it('pay with no confirmation: TRANSFERING, then SUCCESS', async () => {
    const id = await authorized();
    const before = (await t.admin('state')).paidFen as number;
    const b = transfer(id);
    const sent = await t.v3.transferBill(b);
    expect(sent).toMatchObject({
      ok: true,
      data: { out_bill_no: b.out_bill_no, state: expect.stringMatching(/^(ACCEPTED|TRANSFERING)$/) },
    });
    expect(sent.ok && sent.data.package_info).toBeFalsy();
    expect(await t.v3.transferBill(b)).toMatchObject({ ok: true, data: { out_bill_no: b.out_bill_no } }); // a repeat: the bill as it is
    const got = await until(
      () => t.v3.getBill(b.out_bill_no),
      (g) => g.ok && g.data.state === 'SUCCESS',
    );
    expect(got).toMatchObject({ ok: true, data: { state: 'SUCCESS', openid: 'oAuthUser' } });
    expect((await t.admin('state')).paidFen).toBe(before + 300);
  });

  const refusals: [string, () => Promise<AuthorizedTransfer>][] = [
    [
      'an authorization not yet authorized',
      async () => {
        const a = authz();
        await t.v3.createAuthorization(a);
        return transfer('20120250410100099999999');
      },
    ],
    ['an unknown authorization', async () => transfer('99999999')],
    [
      "another openid than the authorization's",
      async () => ({ ...transfer(await authorized()), openid: 'oSomeoneElse' }) as AuthorizedTransfer,
    ],
  ];
  it.each(refusals)('refuses %s with PARAM_ERROR, creating no bill', async (_name, make) => {
    const b = await make();
    expect(await t.v3.transferBill(b)).toMatchObject({ ok: false, code: 'PARAM_ERROR' });
    expect(await t.v3.getBill(b.out_bill_no)).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('refuses an authorization still waiting for its user', async () => {
    const a = authz();
    await t.v3.createAuthorization(a);
    // The waiting authorization has no id yet; naming its out_authorization_no is refused too.
    const b = {
      ...transfer(''),
      authorization_id: undefined,
      out_authorization_no: a.out_authorization_no,
    } as unknown as AuthorizedTransfer;
    expect(await t.v3.transferBill(b)).toMatchObject({ ok: false, code: 'PARAM_ERROR' });
  });
});
