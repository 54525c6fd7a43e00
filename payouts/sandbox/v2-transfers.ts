// The sandbox's APIv2 enterprise payment to change (reference/wechatpay.md §2): mutual TLS with the
// merchant certificate, transfers signed with MD5 only (they take no sign_type), idempotency by
// partner_trade_no over the parameters (FATAL_ERROR on a mismatch), the documented limits, a
// synchronous result (or, by fault, SYSTEMERROR and a query answering PROCESSING for a while), and
// the gettransferinfo query. Transfer answers are unsigned, as WeChat's are. Transfers are journaled.
import { createHash } from 'node:crypto';
import { declaredSignType, parseV2Xml, toV2Xml, verifyV2, type V2SignType } from '../wechat/v2-protocol.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';

const MIN_FEN = 100;
const BUSINESS = '企业付款到零钱';
/**
 * `lateFail`: paid, and an injected fault will fail it later (journaled, so a restart still does);
 * `processing`: queries still to answer PROCESSING (while any are left, a repeat answers SYSTEMERROR).
 */
interface Paid {
  hash: string;
  result: Record<string, string>;
  status: 'SUCCESS' | 'FAILED';
  reason?: string;
  openid: string;
  amount: number;
  desc: string;
  lateFail?: boolean;
  processing?: number;
}

export function createV2Sandbox(
  config: { lateFailMs: number },
  deps: { merchant: Merchant; journal: Journal; timers: Timers; now(): number },
) {
  const m = deps.merchant;
  const { records: transfers, save } = deps.journal.records<Paid>('v2');
  const fail = (code: string, des: string, extra: Record<string, string> = {}) =>
    toV2Xml({
      return_code: 'SUCCESS',
      return_msg: '',
      result_code: 'FAIL',
      err_code: code,
      err_code_des: des,
      ...extra,
    });
  /** A request that never got through: CA_ERROR, XML_ERROR, SIGN_ERROR and the like. */
  const refuse = (code: string, msg: string) =>
    toV2Xml({ return_code: 'FAIL', return_msg: msg, result_code: 'FAIL', err_code: code, err_code_des: msg });
  const failLater = (partnerTradeNo: string, paid: Paid) =>
    deps.timers.later(config.lateFailMs, () => {
      m.refund(paid.amount, partnerTradeNo, BUSINESS, paid.desc);
      Object.assign(paid, { status: 'FAILED', reason: 'ACCOUNT_FROZEN' });
      delete paid.lateFail;
      save(partnerTradeNo, paid);
    });
  for (const [no, paid] of transfers) if (paid.status === 'SUCCESS' && paid.lateFail) failLater(no, paid);

  const noAuth = fail('NO_AUTH', '产品权限验证失败,请查看您当前是否具有该产品的权限');
  const systemError = toV2Xml({
    return_code: 'FAIL',
    return_msg: '系统繁忙',
    err_code: 'SYSTEMERROR',
    err_code_des: '系统繁忙,请稍后再试',
  });
  /**
   * The request's fields, or the XML refusing it (certificate, XML, signature, merchant). `signType`:
   * the only signature the endpoint takes; without it, the one the request declares.
   */
  function admit(
    body: string,
    certified: boolean,
    merchantField: 'mchid' | 'mch_id',
    signType?: V2SignType,
  ): Record<string, string> | string {
    if (!certified) return refuse('CA_ERROR', '请求未携带证书或证书错误');
    const p = parseV2Xml(body);
    if (!p) return refuse('XML_ERROR', '输入xml格式有误');
    if (!verifyV2(p, m.config.apiV2Key, signType ?? declaredSignType(p))) return refuse('SIGN_ERROR', '签名错误');
    if (p[merchantField] !== m.config.mchid) return refuse('PARAM_ERROR', `${merchantField}与证书不匹配`);
    return p;
  }

  return {
    /** POST /mmpaymkttransfers/promotion/transfers */
    transfer(body: string, certified: boolean): string {
      const p = admit(body, certified, 'mchid', 'MD5');
      if (typeof p === 'string') return p;
      if (!m.has('v2_transfer')) return noAuth;
      if (p.mch_appid !== m.config.appid) return fail('PARAM_ERROR', 'mch_appid与mchid不匹配');
      for (const k of ['partner_trade_no', 'openid', 'check_name', 'amount', 'desc', 'spbill_create_ip'])
        if (!p[k]) return fail('PARAM_ERROR', `缺少参数${k}`);
      if (!/^[A-Za-z0-9]{1,32}$/.test(p.partner_trade_no!)) return fail('PARAM_ERROR', 'partner_trade_no格式不正确');
      if (p.check_name === 'FORCE_CHECK' && !p.re_user_name)
        return fail('PARAM_ERROR', 'FORCE_CHECK时re_user_name必填');
      // The refuseOpenids fault: this one transfer is refused (result_code FAIL), nothing paid.
      const refusedWith = m.faults.refuseOpenids[p.openid!];
      if (refusedWith) return fail(refusedWith, `${refusedWith}: 请求参数不符合要求 (sandbox refuseOpenids)`);
      const { nonce_str: _n, sign: _s, sign_type: _t, ...params } = p;
      const hash = createHash('sha256')
        .update(JSON.stringify(Object.entries(params).sort()))
        .digest('hex');
      const previous = transfers.get(p.partner_trade_no!);
      if (previous && previous.hash !== hash) return fail('FATAL_ERROR', '已存在该单号，并且两次请求参数不一致');
      if (previous) return previous.processing ? systemError : toV2Xml(previous.result);
      const amount = Number(p.amount);
      if (!Number.isSafeInteger(amount) || amount < MIN_FEN) return fail('AMOUNT_LIMIT', '付款金额不能小于最低限额');
      if (m.take('notEnough') || amount > m.balanceFen) return fail('NOTENOUGH', '余额不足');
      const failure = m.pay(p.openid!, amount, p.partner_trade_no!, BUSINESS, p.desc!);
      const base = {
        return_code: 'SUCCESS',
        return_msg: '',
        mch_appid: p.mch_appid!,
        mchid: p.mchid!,
        nonce_str: _n ?? '',
      };
      const result = failure
        ? {
            ...base,
            result_code: 'FAIL',
            err_code: failure === 'DAY_RECEIVED_QUOTA_EXCEED' ? 'RECEIVED_MONEY_LIMIT' : failure,
            err_code_des: '付款失败',
            partner_trade_no: p.partner_trade_no!,
          }
        : {
            ...base,
            result_code: 'SUCCESS',
            partner_trade_no: p.partner_trade_no!,
            payment_no: m.newId(),
            payment_time: chinaTime(deps.now()).slice(0, 19).replace('T', ' '),
          };
      const paid: Paid = {
        hash,
        result,
        status: failure ? 'FAILED' : 'SUCCESS',
        reason: failure,
        openid: p.openid!,
        amount,
        desc: p.desc!,
        ...(!failure && m.take('lateFail') ? { lateFail: true } : {}),
      };
      if (m.take('v2Processing')) paid.processing = Math.max(1, m.faults.v2ProcessingQueries);
      transfers.set(p.partner_trade_no!, paid);
      save(p.partner_trade_no!, paid);
      if (paid.lateFail) failLater(p.partner_trade_no!, paid);
      return paid.processing ? systemError : toV2Xml(result);
    },

    /** POST /mmpaymkttransfers/gettransferinfo (note: mch_id and appid here) */
    query(body: string, certified: boolean): string {
      const p = admit(body, certified, 'mch_id');
      if (typeof p === 'string') return p;
      if (!m.has('v2_transfer')) return noAuth;
      const t = transfers.get(p.partner_trade_no ?? '');
      if (!t) return fail('NOT_FOUND', '指定单号数据不存在');
      const processing = (t.processing ?? 0) > 0;
      if (processing) {
        t.processing! -= 1;
        save(p.partner_trade_no!, t);
      }
      return toV2Xml({
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        partner_trade_no: p.partner_trade_no!,
        mch_id: m.config.mchid,
        appid: m.config.appid,
        detail_id: t.result.payment_no ?? '',
        status: processing ? 'PROCESSING' : t.status,
        reason: processing ? '' : (t.reason ?? ''),
        openid: t.openid,
        payment_amount: String(t.amount),
        transfer_time: t.result.payment_time ?? '',
        payment_time: t.result.payment_time ?? '',
        desc: t.desc,
      });
    },
    admit,
  };
}
