// The sandbox's 2025 transfer bills (reference/wechatpay.md §5): one transfer per bill that waits for
// the user to confirm it (WAIT_USER_CONFIRM with package_info), then pays; a bill nobody confirms
// closes after 24 h (time compressed); cancel goes CANCELING -> CANCELLED. A terminal state sends
// the MCHTRANSFER.BILL.FINISHED callback. Idempotent by out_bill_no. Bills are journaled; after a
// restart each carries on from its state.
import { createHash, randomBytes } from 'node:crypto';
import { decryptSensitive } from '../wechat/v3-crypto.js';
import type { BillState, CreateBill } from '../wechat/v3-client.js';
import type { Notifier } from './callbacks.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';
import { decryptionKey, v3Error, type SandboxKeys, type V3Reply, type V3Request } from './v3-auth.js';

const NO = /^[A-Za-z0-9]{1,32}$/;
/** `lateFail`: paid, and an injected fault will fail it later (journaled, so a restart still does). */
interface Bill { hash: string; notifyUrl?: string; lateFail?: boolean; view: { mch_id: string; out_bill_no: string; transfer_bill_no: string; appid: string; state: BillState; transfer_amount: number; transfer_remark: string; openid: string; fail_reason?: string; create_time: string; update_time: string; package_info?: string } }

export function createTransferBillsSandbox(config: { stepMs: number; lateFailMs: number; confirmTimeoutMs: number; autoConfirmMs: number }, deps: { keys: SandboxKeys; merchant: Merchant; notifier: Notifier; journal: Journal; timers: Timers; now(): number }) {
  const { records: bills, save } = deps.journal.records<Bill>('bill');
  const m = deps.merchant;
  const move = (bill: Bill, state: BillState, extra: { fail_reason?: string } = {}) => {
    Object.assign(bill.view, { state, update_time: chinaTime(deps.now()), ...extra });
    if (state !== 'WAIT_USER_CONFIRM') delete bill.view.package_info;
    save(bill.view.out_bill_no, bill);
    if (state === 'SUCCESS' || state === 'FAIL' || state === 'CANCELLED') {
      const { package_info: _p, ...shown } = bill.view;
      deps.notifier.notify(bill.notifyUrl, 'MCHTRANSFER.BILL.FINISHED', '商家转账单据终态通知', 'mch_payment', shown);
    }
  };
  const reply = (bill: Bill): V3Reply => {
    const { out_bill_no, transfer_bill_no, create_time, state, fail_reason, package_info } = bill.view;
    return { status: 200, body: { out_bill_no, transfer_bill_no, create_time, state, ...(fail_reason ? { fail_reason } : {}), ...(package_info ? { package_info } : {}) } };
  };

  const failLater = (bill: Bill) => deps.timers.later(config.lateFailMs, () => {
    m.refund(bill.view.transfer_amount, bill.view.out_bill_no, '商家转账');
    delete bill.lateFail;
    move(bill, 'FAIL', { fail_reason: 'ACCOUNT_FROZEN' });
  });
  const transfer = (bill: Bill) => deps.timers.later(config.stepMs, () => {
    const failure = m.pay(bill.view.openid, bill.view.transfer_amount, bill.view.out_bill_no, '商家转账');
    if (failure) return move(bill, 'FAIL', { fail_reason: failure });
    if (m.take('lateFail')) bill.lateFail = true;
    move(bill, 'SUCCESS');
    if (bill.lateFail) failLater(bill);
  });
  function confirm(bill: Bill): V3Reply | undefined {
    if (bill.view.state !== 'WAIT_USER_CONFIRM') return v3Error(400, 'INVALID_REQUEST', '单据状态不允许确认');
    move(bill, 'TRANSFERING');
    transfer(bill);
    return undefined;
  }
  /** A bill waiting for its user closes unconfirmed after the timeout, or is confirmed by the stand-in user. */
  function awaitUser(bill: Bill) {
    deps.timers.later(config.confirmTimeoutMs, () => bill.view.state === 'WAIT_USER_CONFIRM' && move(bill, 'CANCELLED', { fail_reason: 'BLOCK_USER_CONFIRM' }));
    if (config.autoConfirmMs >= 0) deps.timers.later(config.autoConfirmMs, () => bill.view.state === 'WAIT_USER_CONFIRM' && confirm(bill));
  }
  const cancelled = (bill: Bill) => deps.timers.later(config.stepMs, () => move(bill, 'CANCELLED'));

  for (const bill of bills.values()) {
    if (bill.view.state === 'WAIT_USER_CONFIRM') awaitUser(bill);
    else if (bill.view.state === 'TRANSFERING') transfer(bill);
    else if (bill.view.state === 'CANCELING') cancelled(bill);
    else if (bill.view.state === 'SUCCESS' && bill.lateFail) failLater(bill);
  }

  return {
    /** POST /v3/fund-app/mch-transfer/transfer-bills */
    create(req: V3Request): V3Reply {
      let b: CreateBill;
      try {
        b = JSON.parse(req.body) as CreateBill;
      } catch {
        return v3Error(400, 'PARAM_ERROR', '请求体不是合法的JSON');
      }
      const bad = (message: string) => v3Error(400, 'PARAM_ERROR', message);
      if (b.appid !== m.config.appid) return bad('appid与商户号不匹配');
      if (typeof b.out_bill_no !== 'string' || !NO.test(b.out_bill_no)) return bad('out_bill_no格式不正确');
      if (!b.transfer_scene_id || !b.openid || typeof b.transfer_remark !== 'string' || b.transfer_remark.length > 32) return bad('参数不正确');
      if (!Array.isArray(b.transfer_scene_report_infos) || b.transfer_scene_report_infos.length === 0) return bad('需传入转账场景报备信息');
      if (!Number.isSafeInteger(b.transfer_amount) || b.transfer_amount < 10) return bad('超过单笔转账上下限');
      if (b.transfer_amount >= 200_000 && !b.user_name) return bad('单笔金额≥2000元须传入收款用户姓名');
      let name: string | undefined;
      if (b.user_name !== undefined) {
        const key = decryptionKey(deps.keys, req.headers['wechatpay-serial']);
        if (!key) return bad('平台证书序列号Wechatpay-Serial错误');
        try {
          name = decryptSensitive(key, b.user_name);
        } catch {
          return bad('请确认待处理的消息是否为加密后的密文');
        }
      }
      const hash = createHash('sha256').update(JSON.stringify({ ...b, user_name: name })).digest('hex');
      const previous = bills.get(b.out_bill_no);
      if (previous) return previous.hash === hash ? reply(previous) : v3Error(400, 'INVALID_REQUEST', '单号已存在但信息不一致');
      const time = chinaTime(deps.now());
      const bill: Bill = {
        hash, notifyUrl: b.notify_url,
        view: {
          mch_id: m.config.mchid, out_bill_no: b.out_bill_no, transfer_bill_no: `1330000${m.newId()}`, appid: b.appid, state: 'WAIT_USER_CONFIRM',
          transfer_amount: b.transfer_amount, transfer_remark: b.transfer_remark, openid: b.openid, create_time: time, update_time: time,
          package_info: `ABBQO+oYAAABAAAAAAB${randomBytes(24).toString('base64')}`,
        },
      };
      bills.set(b.out_bill_no, bill);
      save(b.out_bill_no, bill);
      awaitUser(bill);
      return reply(bill);
    },

    /** GET …/transfer-bills/out-bill-no/{no} */
    get(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      if (!bill) return v3Error(404, 'NOT_FOUND', '记录不存在');
      const { package_info: _p, ...shown } = bill.view;
      return { status: 200, body: shown };
    },

    /** POST …/out-bill-no/{no}/cancel: accepted means CANCELING; CANCELLED follows. */
    cancel(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      if (!bill) return v3Error(404, 'NOT_FOUND', '记录不存在');
      if (!['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'].includes(bill.view.state)) return v3Error(400, 'INVALID_REQUEST', '单据状态不允许撤销');
      move(bill, 'CANCELING');
      cancelled(bill);
      return { status: 200, body: { out_bill_no: outBillNo, transfer_bill_no: bill.view.transfer_bill_no, state: 'CANCELING', update_time: bill.view.update_time } };
    },

    /** The user's tap on the confirm page (admin endpoint: the sandbox has no WeChat app). */
    confirm(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      if (!bill) return v3Error(404, 'NOT_FOUND', '记录不存在');
      return confirm(bill) ?? { status: 200, body: { state: bill.view.state } };
    },
  };
}
