// The sandbox's 免确认收款授权 (no-confirmation authorization) [U: shapes from SDKs generated from
// WeChat's docs]: an authorization waits (WAIT_USER_CONFIRM, with a package) until the user authorizes
// once on a page (AUTHORIZED, with an authorization_id); transfers naming it then pay with no page.
import { createHash, randomBytes } from 'node:crypto';
import type { CreateAuthorization } from '../wechat/v3-client.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime } from './timers.js';
import { HTTPS_NOTIFY } from './transfer-bills.js';
import { v3Error, type V3Reply, type V3Request } from './v3-auth.js';

const NO = /^[A-Za-z0-9]{1,32}$/;
type State = 'WAIT_USER_CONFIRM' | 'AUTHORIZED';
interface Authorization {
  hash: string;
  pkg: string;
  view: {
    out_authorization_no: string;
    appid: string;
    openid: string;
    transfer_scene_id: string;
    state: State;
    authorization_id?: string;
    create_time: string;
    update_time: string;
  };
}
/** The bill creation that takes the payee from an authorization (transfer-bills.ts `create`). */
type CreateBill = (req: V3Request, authorize: (body: Record<string, unknown>) => string | V3Reply) => V3Reply;

export function createAuthorizationsSandbox(deps: {
  merchant: Merchant;
  journal: Journal;
  now(): number;
  createBill: CreateBill;
}) {
  const { records, save } = deps.journal.records<Authorization>('authorization');
  const m = deps.merchant;
  const reply = (a: Authorization): V3Reply => {
    const { out_authorization_no, state, authorization_id, create_time } = a.view;
    return {
      status: 200,
      body: {
        out_authorization_no,
        state,
        create_time,
        ...(authorization_id ? { authorization_id } : {}),
        ...(state === 'WAIT_USER_CONFIRM' ? { package_info: a.pkg } : {}),
      },
    };
  };
  function authorize(a: Authorization | undefined): V3Reply {
    if (!a) return v3Error(404, 'NOT_FOUND', '授权记录不存在');
    if (a.view.state === 'WAIT_USER_CONFIRM') {
      Object.assign(a.view, {
        state: 'AUTHORIZED',
        authorization_id: `2012025${m.newId()}`,
        update_time: chinaTime(deps.now()),
      });
      save(a.view.out_authorization_no, a);
    }
    return { status: 200, body: { out_authorization_no: a.view.out_authorization_no, state: a.view.state } };
  }
  const byId = (id: unknown) => [...records.values()].find((a) => a.view.authorization_id === id);

  return {
    /** POST /v3/fund-app/mch-transfer/user-confirm-authorization: idempotent by out_authorization_no and body. */
    create(req: V3Request): V3Reply {
      let b: CreateAuthorization;
      try {
        b = JSON.parse(req.body) as CreateAuthorization;
      } catch {
        return v3Error(400, 'PARAM_ERROR', '请求体不是合法的JSON');
      }
      if (b.appid !== m.config.appid) return v3Error(400, 'PARAM_ERROR', 'appid与商户号不匹配');
      if (typeof b.out_authorization_no !== 'string' || !NO.test(b.out_authorization_no))
        return v3Error(400, 'PARAM_ERROR', 'out_authorization_no格式不正确');
      if (!b.openid || !b.transfer_scene_id) return v3Error(400, 'PARAM_ERROR', '参数不正确');
      if (b.authorization_notify_url !== undefined && !HTTPS_NOTIFY.test(b.authorization_notify_url))
        return v3Error(400, 'PARAM_ERROR', 'authorization_notify_url格式不正确');
      const hash = createHash('sha256').update(JSON.stringify(b)).digest('hex');
      const previous = records.get(b.out_authorization_no);
      if (previous)
        return previous.hash === hash ? reply(previous) : v3Error(400, 'INVALID_REQUEST', '单号已存在但信息不一致');
      const time = chinaTime(deps.now());
      const a: Authorization = {
        hash,
        pkg: `ABBQO+oYAAABAAAAAAC${randomBytes(24).toString('base64')}`,
        view: {
          out_authorization_no: b.out_authorization_no,
          appid: b.appid,
          openid: b.openid,
          transfer_scene_id: b.transfer_scene_id,
          state: 'WAIT_USER_CONFIRM',
          create_time: time,
          update_time: time,
        },
      };
      records.set(b.out_authorization_no, a);
      save(b.out_authorization_no, a);
      return reply(a);
    },

    /** GET …/user-confirm-authorization/out-authorization-no/{no}: never with the package. */
    get(outNo: string): V3Reply {
      const a = records.get(outNo);
      return a ? { status: 200, body: a.view } : v3Error(404, 'NOT_FOUND', '授权记录不存在');
    },

    /**
     * POST /v3/fund-app/mch-transfer/transfer-bills/transfer: a bill naming an AUTHORIZED authorization
     * (authorization_id, or out_authorization_no) pays its openid with no page; anything else is refused.
     */
    transfer: (req: V3Request): V3Reply =>
      deps.createBill(req, (body) => {
        const a =
          body.authorization_id !== undefined
            ? byId(body.authorization_id)
            : records.get(String(body.out_authorization_no ?? ''));
        if (!a || a.view.state !== 'AUTHORIZED') return v3Error(400, 'PARAM_ERROR', '用户未授权免确认收款');
        if (a.view.appid !== body.appid) return v3Error(400, 'PARAM_ERROR', 'appid与授权不匹配');
        if (body.openid !== undefined && body.openid !== a.view.openid)
          return v3Error(400, 'PARAM_ERROR', 'openid与授权不匹配');
        return a.view.openid;
      }),

    /** The user's authorize tap (admin route), by number; again once authorized changes nothing. */
    confirm: (outNo: string): V3Reply => authorize(records.get(outNo)),
    /** The tap on the page a package opened; an unknown package opens nothing. */
    confirmPackage: (pkg: string): V3Reply => authorize([...records.values()].find((a) => a.pkg === pkg)),
  };
}
