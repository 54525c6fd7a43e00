// The APIv2 client (reference/wechatpay.md §1, §2, §6, §8): enterprise payment to change, its query,
// the bills, and the pay-in side (orders, refunds), over mutual TLS with the merchant certificate. `return_code` says whether the request
// got through, `result_code`/`err_code` what happened; the err_code is what counts (the official
// SYSTEMERROR example comes with return_code=FAIL).
import { randomBytes } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import { payInError, wechatError, type PayInCall, type WechatErrorInfo } from './errors.js';
import type { Transport } from './transport.js';
import { parseV2Xml, signV2, toV2Xml, verifyV2, type V2Params, type V2SignType } from './v2-protocol.js';

/**
 * `transferSignType` signs promotion/transfers and gettransferinfo, which take no `sign_type` field
 * (reference/wechatpay.md, "v2 transfers": MD5 is the safe one there); `signType` the other calls.
 */
export interface V2Config {
  mchid: string;
  appid: string;
  apiKey: string;
  signType: V2SignType;
  transferSignType: V2SignType;
}
export type V2Answer =
  | { ok: true; fields: Record<string, string> }
  | { ok: false; code: string; message: string; error: WechatErrorInfo; fields: Record<string, string> };

/** pay/unifiedorder (§8): time_expire is yyyyMMddHHmmss in China time; openid for JSAPI, product_id (≤ 32) for NATIVE. */
export interface UnifiedOrder {
  body: string;
  out_trade_no: string;
  total_fee: number;
  spbill_create_ip: string;
  notify_url: string;
  trade_type: 'NATIVE' | 'JSAPI';
  openid?: string;
  product_id?: string;
  time_expire: string;
  attach: string;
}
/** secapi/pay/refund: refund_desc is the reason the payer sees. */
export interface V2Refund {
  out_trade_no: string;
  out_refund_no: string;
  total_fee: number;
  refund_fee: number;
  refund_desc?: string;
  notify_url: string;
}

export interface Transfer {
  partner_trade_no: string;
  openid: string;
  amount: number;
  desc: string;
  check_name: 'NO_CHECK' | 'FORCE_CHECK';
  re_user_name?: string;
  spbill_create_ip: string;
}

export function createV2Client(config: V2Config, deps: { transport: Transport }) {
  const signed = (params: V2Params, type = config.signType, typeField = type !== 'MD5') => {
    const all = { ...params, nonce_str: randomBytes(16).toString('hex'), ...(typeField ? { sign_type: type } : {}) };
    return toV2Xml({ ...all, sign: signV2(all, config.apiKey, type) });
  };
  /**
   * `call`: a pay-in call, whose codes read as that call means them (errors.ts payInError). Its
   * refusals with return_code FAIL come unsigned, so, like v3's unsigned ones, they are never final.
   */
  async function post(
    path: string,
    params: V2Params,
    opts: { signedAnswer: boolean; transfer?: boolean; call?: PayInCall },
  ): Promise<V2Answer> {
    const body = opts.transfer ? signed(params, config.transferSignType, false) : signed(params);
    const answer = await deps.transport.send('POST', path, { 'content-type': 'text/xml; charset=utf-8' }, body);
    const fields = parseV2Xml(answer.body.toString('utf8'));
    if (!fields)
      throw new PipelineError('wechat_bad_answer', `${path} answered ${answer.status} without XML`, {
        retriable: true,
      });
    if (opts.signedAnswer && fields.return_code === 'SUCCESS' && !verifyV2(fields, config.apiKey, config.signType)) {
      throw new PipelineError('wechat_unverified_answer', `${path}: the answer's sign does not verify`, {
        retriable: true,
      });
    }
    const code = fields.err_code ?? (fields.return_code === 'SUCCESS' ? undefined : 'SYSTEMERROR');
    if (fields.return_code === 'SUCCESS' && fields.result_code === 'SUCCESS') return { ok: true, fields };
    const errCode = code ?? 'SYSTEMERROR';
    const call = opts.call;
    const info = call ? payInError(call, errCode) : wechatError(errCode);
    const error = call && fields.return_code !== 'SUCCESS' && info.final ? { ...info, final: false } : info;
    return { ok: false, code: errCode, message: fields.err_code_des ?? fields.return_msg ?? '', error, fields };
  }

  /** A bill is text; an error comes back as XML with error_code (20002: no bill that day). */
  async function download(
    path: string,
    params: V2Params,
    type: V2SignType,
  ): Promise<{ ok: true; text: string } | { ok: false; errorCode: string; message: string }> {
    const answer = await deps.transport.send(
      'POST',
      path,
      { 'content-type': 'text/xml; charset=utf-8' },
      signed(params, type),
    );
    const text = answer.body.toString('utf8');
    if (!text.startsWith('<xml>')) return { ok: true, text };
    const fields = parseV2Xml(text);
    return { ok: false, errorCode: fields?.error_code ?? '', message: fields?.return_msg ?? text };
  }

  return {
    /** Transfer answers are unsigned (the SDKs' SIGNLESS list). */
    transfer: (t: Transfer) =>
      post(
        '/mmpaymkttransfers/promotion/transfers',
        { mch_appid: config.appid, mchid: config.mchid, ...t },
        { signedAnswer: false, transfer: true },
      ),
    /** Note the other field names: mch_id and appid. Status is SUCCESS | FAILED | PROCESSING. */
    getTransferInfo: (partnerTradeNo: string) =>
      post(
        '/mmpaymkttransfers/gettransferinfo',
        { mch_id: config.mchid, appid: config.appid, partner_trade_no: partnerTradeNo },
        { signedAnswer: false, transfer: true },
      ),

    /**
     * The fund-flow bill of `billDate` (yyyyMMdd) of the operating account, where transfers move, over
     * mutual TLS; HMAC-SHA256 is required here.
     */
    downloadFundflow: (billDate: string) =>
      download(
        '/pay/downloadfundflow',
        { mch_id: config.mchid, appid: config.appid, bill_date: billDate, account_type: 'Operation' },
        'HMAC-SHA256',
      ),
    /** The trade bill of `billDate` (yyyyMMdd); payments in, not transfers out. No certificate needed; 20002: no bill. */
    downloadBill: (billDate: string, billType: 'ALL' | 'SUCCESS' | 'REFUND' | 'RECHARGE_REFUND' = 'ALL') =>
      download(
        '/pay/downloadbill',
        { appid: config.appid, mch_id: config.mchid, bill_date: billDate, bill_type: billType },
        config.signType,
      ),

    unifiedOrder: (o: UnifiedOrder) =>
      post(
        '/pay/unifiedorder',
        { appid: config.appid, mch_id: config.mchid, ...o },
        { signedAnswer: true, call: 'order' },
      ),
    /** trade_state, and transaction_id, time_end, openid once paid. */
    orderQuery: (outTradeNo: string) =>
      post(
        '/pay/orderquery',
        { appid: config.appid, mch_id: config.mchid, out_trade_no: outTradeNo },
        { signedAnswer: true, call: 'query' },
      ),
    closeOrder: (outTradeNo: string) =>
      post(
        '/pay/closeorder',
        { appid: config.appid, mch_id: config.mchid, out_trade_no: outTradeNo },
        { signedAnswer: true, call: 'close' },
      ),
    /** Mutual TLS. result_code SUCCESS means accepted; the refund query or notification tells the outcome. */
    refund: (r: V2Refund) =>
      post(
        '/secapi/pay/refund',
        { appid: config.appid, mch_id: config.mchid, ...r },
        { signedAnswer: true, call: 'refund' },
      ),
    /** By out_refund_no: refund_status_0 (SUCCESS | REFUNDCLOSE | PROCESSING | CHANGE) and the other `_0` fields. */
    refundQuery: (outRefundNo: string) =>
      post(
        '/pay/refundquery',
        { appid: config.appid, mch_id: config.mchid, out_refund_no: outRefundNo },
        { signedAnswer: true, call: 'refund_query' },
      ),
    /** The JSAPI paySign: the v2 sign of {appId, timeStamp, nonceStr, package, signType}, with the configured type. */
    paySign(fields: { appId: string; timeStamp: string; nonceStr: string; package: string }): {
      signType: V2SignType;
      paySign: string;
    } {
      return {
        signType: config.signType,
        paySign: signV2({ ...fields, signType: config.signType }, config.apiKey, config.signType),
      };
    },
  };
}

export type V2Client = ReturnType<typeof createV2Client>;
