// The sandbox's 2025 transfer bills (reference/wechatpay.md §5 and its December 2026 corrections):
// ACCEPTED -> PROCESSING (the money is locked: the operating account is debited, or the bill waits
// there for a top-up) -> WAIT_USER_CONFIRM (package_info, in create answers only) -> the user's tap
// -> TRANSFERING -> SUCCESS | FAIL. Nobody confirming closes the bill after 24 h (time compressed)
// as FAIL OVERDUE_CLOSE; cancel goes CANCELING -> CANCELLED. Both refund the debit. A terminal state
// sends MCHTRANSFER.BILL.FINISHED. Idempotent by out_bill_no; journaled, so a restart carries on.
import { createHash, randomBytes } from 'node:crypto';
import { decryptSensitive } from '../wechat/v3-crypto.js';
import type { BillState, CreateBill } from '../wechat/v3-client.js';
import type { Notifier } from './callbacks.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';
import { decryptionKey, v3Error, type SandboxKeys, type V3Reply, type V3Request } from './v3-auth.js';

const NO = /^[A-Za-z0-9]{1,32}$/;
export const HTTPS_NOTIFY = /^https:\/\/[^?#\s]+$/;
/** The report entries WeChat requires per scene; a scene not listed needs at least one. */
const SCENE_REPORT_TYPES: Record<string, string[]> = { 1000: ['活动名称', '奖励说明'] };
const BUSINESS = '商家转账';
type View = {
  mch_id: string;
  out_bill_no: string;
  transfer_bill_no: string;
  appid: string;
  state: BillState;
  transfer_amount: number;
  transfer_remark: string;
  openid: string;
  fail_reason?: string;
  create_time: string;
  update_time: string;
};
/**
 * `pkg`: the confirm page's package, shown in create answers while WAIT_USER_CONFIRM; `short`: waits
 * in PROCESSING for a top-up; `lateFail`: paid, and an injected fault fails it later.
 */
interface Bill {
  hash: string;
  notifyUrl?: string;
  pkg: string;
  short?: boolean;
  lateFail?: boolean;
  view: View & { package_info?: string };
}

export interface TransferBillsConfig {
  stepMs: number;
  lateFailMs: number;
  confirmTimeoutMs: number;
  autoConfirmMs: number;
  /** The share of bills the stand-in user confirms by themselves (by out_bill_no, so the same bills every run); the rest close unconfirmed. */
  autoConfirmShare?: number;
  /** The state a bill nobody confirmed closes in: FAIL (WeChat's, [U]) or CANCELLED. */
  closeState: 'FAIL' | 'CANCELLED';
  /** When the operating account is debited: as the bill reaches WAIT_USER_CONFIRM [U], or at the user's confirmation. */
  debitAt: 'wait' | 'confirm';
}

/** A create request checked as WeChat does: an error reply, or the user's name (decrypted) if sent. */
function check(
  b: CreateBill,
  appid: string,
  decrypt: (cipher: string) => string | V3Reply,
): V3Reply | { name?: string } {
  const bad = (message: string) => v3Error(400, 'PARAM_ERROR', message);
  if (b.appid !== appid) return bad('appid与商户号不匹配');
  if (typeof b.out_bill_no !== 'string' || !NO.test(b.out_bill_no)) return bad('out_bill_no格式不正确');
  if (!b.transfer_scene_id || !b.openid || typeof b.transfer_remark !== 'string' || b.transfer_remark.length > 32)
    return bad('参数不正确');
  const infos = Array.isArray(b.transfer_scene_report_infos)
    ? b.transfer_scene_report_infos.filter((i) => i?.info_type && i.info_content)
    : [];
  const required = SCENE_REPORT_TYPES[b.transfer_scene_id] ?? [];
  if (infos.length === 0 || required.some((t) => !infos.some((i) => i.info_type === t)))
    return bad('需传入转账场景报备信息,请检查');
  if (b.notify_url !== undefined && !HTTPS_NOTIFY.test(b.notify_url))
    return bad('notify_url格式不正确: 须为https且不带参数');
  if (!Number.isSafeInteger(b.transfer_amount) || b.transfer_amount < 10) return bad('超过单笔转账上下限');
  if (b.transfer_amount >= 200_000 && !b.user_name) return bad('单笔金额≥2000元须传入收款用户姓名');
  if (b.user_name === undefined) return {};
  const name = decrypt(b.user_name);
  return typeof name === 'string' ? { name } : name;
}

/** Whether bill `outBillNo` falls in the `share` of bills the stand-in user confirms (the same bills every run). */
export const inConfirmingShare = (outBillNo: string, share: number) =>
  createHash('sha256').update(outBillNo).digest().readUInt32BE(0) / 2 ** 32 < share;

export function createTransferBillsSandbox(
  config: TransferBillsConfig,
  deps: { keys: SandboxKeys; merchant: Merchant; notifier: Notifier; journal: Journal; timers: Timers; now(): number },
) {
  const { records: bills, save } = deps.journal.records<Bill>('bill');
  const m = deps.merchant;
  const later = deps.timers.later;
  const refund = (bill: Bill) =>
    m.refund(bill.view.transfer_amount, bill.view.out_bill_no, BUSINESS, bill.view.transfer_remark);
  const move = (bill: Bill, state: BillState, extra: { fail_reason?: string } = {}) => {
    Object.assign(bill.view, { state, update_time: chinaTime(deps.now()), ...extra });
    save(bill.view.out_bill_no, bill);
    if (state === 'SUCCESS' || state === 'FAIL' || state === 'CANCELLED')
      deps.notifier.notify(
        bill.notifyUrl,
        'MCHTRANSFER.BILL.FINISHED',
        '商家转账单据终态通知',
        'mch_payment',
        bill.view,
      );
  };
  const reply = (bill: Bill): V3Reply => {
    const { out_bill_no, transfer_bill_no, create_time, state, fail_reason } = bill.view;
    return {
      status: 200,
      body: {
        out_bill_no,
        transfer_bill_no,
        create_time,
        state,
        ...(fail_reason ? { fail_reason } : {}),
        ...(state === 'WAIT_USER_CONFIRM' ? { package_info: bill.pkg } : {}),
      },
    };
  };

  const failLater = (bill: Bill) =>
    later(config.lateFailMs, () => {
      refund(bill);
      delete bill.lateFail;
      move(bill, 'FAIL', { fail_reason: 'ACCOUNT_FROZEN' });
    });
  /** The user confirmed: the money goes to the user a step later, or the bill fails and its money comes back. */
  const transfer = (bill: Bill) =>
    later(config.stepMs, () => {
      const { openid, transfer_amount: fen, out_bill_no: no, transfer_remark: remark } = bill.view;
      const failure = m.refusal(openid, fen) ?? m.debit(fen, no, BUSINESS, remark);
      if (failure) {
        refund(bill);
        return move(bill, 'FAIL', { fail_reason: failure });
      }
      m.received(openid, fen);
      if (m.take('lateFail')) bill.lateFail = true;
      move(bill, 'SUCCESS');
      if (bill.lateFail) failLater(bill);
    });
  function confirm(bill: Bill): V3Reply | undefined {
    if (bill.view.state === 'TRANSFERING') return undefined; // confirmed again from the page: nothing new
    if (bill.view.state !== 'WAIT_USER_CONFIRM') return v3Error(400, 'INVALID_REQUEST', '单据状态不允许确认');
    move(bill, 'TRANSFERING');
    transfer(bill);
    return undefined;
  }
  /** Locks the bill's money (or, debiting at confirm, sees that it is there); without it, waits in PROCESSING for a top-up. */
  function lock(bill: Bill) {
    const { transfer_amount: fen, out_bill_no: no, transfer_remark: remark } = bill.view;
    const short =
      config.debitAt === 'wait' ? m.debit(fen, no, BUSINESS, remark) : fen > m.balanceFen ? 'NOT_ENOUGH' : undefined;
    if (short) {
      bill.short = true;
      return move(bill, 'PROCESSING');
    }
    delete bill.short;
    move(bill, 'WAIT_USER_CONFIRM');
    if (autoConfirms(bill)) later(config.autoConfirmMs, () => bill.view.state === 'WAIT_USER_CONFIRM' && confirm(bill));
  }
  /** Whether the stand-in user confirms this bill by themselves (SANDBOX_AUTO_CONFIRM_MS, SANDBOX_AUTO_CONFIRM_SHARE). */
  const autoConfirms = (bill: Bill) =>
    config.autoConfirmMs >= 0 && inConfirmingShare(bill.view.out_bill_no, config.autoConfirmShare ?? 1);
  /** ACCEPTED, then PROCESSING a step later, then locked a step after that. */
  const advance = (bill: Bill) =>
    later(config.stepMs, () => {
      if (bill.view.state === 'ACCEPTED') move(bill, 'PROCESSING');
      if (bill.view.state === 'PROCESSING' && !bill.short)
        later(config.stepMs, () => bill.view.state === 'PROCESSING' && lock(bill));
    });
  /** Unconfirmed (or still without money) after the timeout: closed, and the money comes back. */
  const closeLater = (bill: Bill) =>
    later(config.confirmTimeoutMs, () => {
      if (!['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'].includes(bill.view.state)) return;
      refund(bill);
      move(bill, config.closeState, { fail_reason: 'OVERDUE_CLOSE' });
    });
  const cancelled = (bill: Bill) =>
    later(config.stepMs, () => {
      refund(bill);
      move(bill, 'CANCELLED', { fail_reason: 'MCH_CANCEL' });
    });
  m.onTopUp(() => {
    for (const bill of bills.values()) if (bill.view.state === 'PROCESSING' && bill.short) lock(bill);
  });

  for (const bill of bills.values()) {
    // Journaled before the package was kept apart from the view.
    bill.pkg ??= bill.view.package_info ?? `ABBQO+oYAAABAAAAAAB${randomBytes(24).toString('base64')}`;
    delete bill.view.package_info;
    const state = bill.view.state;
    if (state === 'ACCEPTED' || (state === 'PROCESSING' && !bill.short)) advance(bill);
    else if (state === 'WAIT_USER_CONFIRM' && autoConfirms(bill))
      later(config.autoConfirmMs, () => bill.view.state === 'WAIT_USER_CONFIRM' && confirm(bill));
    else if (state === 'TRANSFERING') transfer(bill);
    else if (state === 'CANCELING') cancelled(bill);
    else if (state === 'SUCCESS' && bill.lateFail) failLater(bill);
    if (['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'].includes(state)) closeLater(bill);
  }

  return {
    /**
     * POST /v3/fund-app/mch-transfer/transfer-bills: a repeat with the same body answers the bill as it is now.
     * With `authorize` (…/transfer-bills/transfer, authorizations.ts): the payee is the openid of the
     * authorization the body names, and the bill pays with no confirmation.
     */
    create(req: V3Request, authorize?: (body: Record<string, unknown>) => string | V3Reply): V3Reply {
      let b: CreateBill;
      try {
        b = JSON.parse(req.body) as CreateBill;
      } catch {
        return v3Error(400, 'PARAM_ERROR', '请求体不是合法的JSON');
      }
      if (authorize) {
        const openid = authorize(b as unknown as Record<string, unknown>);
        if (typeof openid !== 'string') return openid;
        b = { ...b, openid };
      }
      const checked = check(b, m.config.appid, (cipher) => {
        const key = decryptionKey(deps.keys, req.headers['wechatpay-serial']);
        if (!key) return v3Error(400, 'PARAM_ERROR', '平台证书序列号Wechatpay-Serial错误');
        try {
          return decryptSensitive(key, cipher);
        } catch {
          return v3Error(400, 'PARAM_ERROR', '请确认待处理的消息是否为加密后的密文');
        }
      });
      if ('status' in checked) return checked;
      // The refuseOpenids fault: this one transfer is refused as WeChat refuses a bad request, creating nothing.
      const refusedWith = m.faults.refuseOpenids[b.openid];
      if (refusedWith) return v3Error(400, refusedWith, `${refusedWith}: 请求参数不符合要求 (sandbox refuseOpenids)`);
      const hash = createHash('sha256')
        .update(JSON.stringify({ ...b, user_name: checked.name }))
        .digest('hex');
      const previous = bills.get(b.out_bill_no);
      if (previous)
        return previous.hash === hash ? reply(previous) : v3Error(400, 'INVALID_REQUEST', '单号已存在但信息不一致');
      const time = chinaTime(deps.now());
      const bill: Bill = {
        hash,
        notifyUrl: b.notify_url,
        pkg: `ABBQO+oYAAABAAAAAAB${randomBytes(24).toString('base64')}`,
        view: {
          mch_id: m.config.mchid,
          out_bill_no: b.out_bill_no,
          transfer_bill_no: `1330000${m.newId()}`,
          appid: b.appid,
          state: 'ACCEPTED',
          transfer_amount: b.transfer_amount,
          transfer_remark: b.transfer_remark,
          openid: b.openid,
          create_time: time,
          update_time: time,
        },
      };
      bills.set(b.out_bill_no, bill);
      save(b.out_bill_no, bill);
      if (authorize) {
        move(bill, 'TRANSFERING');
        transfer(bill);
        return reply(bill);
      }
      if (m.take('billAccepted')) advance(bill);
      else lock(bill);
      closeLater(bill);
      return reply(bill);
    },

    /** GET …/transfer-bills/out-bill-no/{no}: never with package_info. */
    get(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      return bill ? { status: 200, body: bill.view } : v3Error(404, 'NOT_FOUND', '记录不存在');
    },

    /** POST …/out-bill-no/{no}/cancel, before the user confirms: accepted means CANCELING; CANCELLED follows. */
    cancel(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      if (!bill) return v3Error(404, 'NOT_FOUND', '记录不存在');
      if (!['ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM'].includes(bill.view.state))
        return v3Error(400, 'INVALID_REQUEST', '单据状态不允许撤销');
      move(bill, 'CANCELING');
      cancelled(bill);
      return {
        status: 200,
        body: {
          out_bill_no: outBillNo,
          transfer_bill_no: bill.view.transfer_bill_no,
          state: 'CANCELING',
          update_time: bill.view.update_time,
        },
      };
    },

    /**
     * The user's tap on the page a package opened (wx.requestMerchantTransfer): the bill whose package
     * it is. An unknown or outdated package opens nothing.
     */
    confirmPackage(pkg: string): V3Reply {
      const bill = [...bills.values()].find((b) => b.pkg === pkg);
      if (!bill) return v3Error(404, 'NOT_FOUND', '确认页已失效');
      return confirm(bill) ?? { status: 200, body: { out_bill_no: bill.view.out_bill_no, state: bill.view.state } };
    },

    /** The user's tap on the confirm page (admin route: the sandbox has no WeChat app); again in TRANSFERING changes nothing. */
    confirm(outBillNo: string): V3Reply {
      const bill = bills.get(outBillNo);
      if (!bill) return v3Error(404, 'NOT_FOUND', '记录不存在');
      return confirm(bill) ?? { status: 200, body: { state: bill.view.state } };
    },

    /** Money debited for bills not yet paid (waiting for, or in, the user's confirmation). */
    lockedFen: () =>
      [...bills.values()]
        .filter((b) => b.view.state !== 'SUCCESS' && m.isDebited(b.view.out_bill_no))
        .reduce((s, b) => s + b.view.transfer_amount, 0),
  };
}
