// The APIv3 client (reference/wechatpay.md §3-§6): signs every request, verifies every signed answer
// against the platform keys (certificate serials and PUB_KEY_IDs side by side), and speaks batch
// transfers, transfer bills, bills, and the pay-in side (orders, refunds). Answers are values; only a fault that leaves the outcome
// unknown (network, timeout, an answer that does not verify) throws, as a retriable PipelineError.
// WeChat leaves unsigned only its 4xx answers to requests whose own signature failed (a key or serial
// wrong here): such an answer is read as WeChat's, but, being unauthenticated, it never ends a transfer.
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import { payInError, wechatError, type PayInCall, type WechatErrorInfo } from './errors.js';
import type { Transport } from './transport.js';
import {
  authorization,
  decryptResource,
  encryptSensitive,
  jsapiPaySign,
  verifyWechatpay,
  type JsapiPayFields,
  type Merchant,
  type Resource,
} from './v3-crypto.js';

export interface V3Config extends Merchant {
  apiV3Key: string;
  /** Keys that verify WeChat Pay's signatures, by serial (platform certificate serial or PUB_KEY_ID); refreshCertificates adds to it. */
  platformKeys: Map<string, KeyObject>;
  /** The serial whose key encrypts sensitive fields, sent as Wechatpay-Serial ('' until certificates are downloaded). */
  encryptSerial: string;
}

/** `unsigned`: a refusal that came without WeChat's signature (its code is read, never trusted to end anything). */
export type V3Answer<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; code: string; message: string; error: WechatErrorInfo; unsigned?: true };

export interface BatchDetail {
  out_detail_no: string;
  transfer_amount: number;
  transfer_remark: string;
  openid: string;
  user_name?: string;
}
export interface CreateBatch {
  appid: string;
  out_batch_no: string;
  batch_name: string;
  batch_remark: string;
  total_amount: number;
  total_num: number;
  transfer_scene_id?: string;
  notify_url?: string;
  transfer_detail_list: BatchDetail[];
}
export interface BatchView {
  transfer_batch: {
    out_batch_no: string;
    batch_id: string;
    batch_status: 'WAIT_PAY' | 'ACCEPTED' | 'PROCESSING' | 'FINISHED' | 'CLOSED';
    close_reason?: string;
    total_num: number;
    success_num?: number;
    fail_num?: number;
  };
  transfer_detail_list?: {
    detail_id: string;
    out_detail_no: string;
    detail_status: 'INIT' | 'WAIT_PAY' | 'PROCESSING' | 'SUCCESS' | 'FAIL';
  }[];
}
export interface DetailView {
  out_detail_no: string;
  detail_id: string;
  detail_status: string;
  fail_reason?: string;
  transfer_amount: number;
  openid: string;
}
export interface CreateBill {
  appid: string;
  out_bill_no: string;
  transfer_scene_id: string;
  openid: string;
  user_name?: string;
  transfer_amount: number;
  transfer_remark: string;
  notify_url?: string;
  transfer_scene_report_infos: { info_type: string; info_content: string }[];
}
export type BillState =
  'ACCEPTED' | 'PROCESSING' | 'WAIT_USER_CONFIRM' | 'TRANSFERING' | 'SUCCESS' | 'FAIL' | 'CANCELING' | 'CANCELLED';
export interface BillView {
  out_bill_no: string;
  transfer_bill_no: string;
  state: BillState;
  fail_reason?: string;
  package_info?: string;
  transfer_amount?: number;
}
/**
 * 免确认收款授权 [U: the shapes come from SDKs generated from WeChat's docs]: the user authorizes once on a
 * page the package opens; a transfer (transfer-bills/transfer) then names the authorization, not the openid.
 */
export interface CreateAuthorization {
  out_authorization_no: string;
  appid: string;
  openid: string;
  transfer_scene_id: string;
  user_display_name?: string;
  user_recv_perception?: string;
  authorization_notify_url?: string;
}
export interface AuthorizationView {
  out_authorization_no: string;
  state: string;
  authorization_id?: string;
  package_info?: string;
  openid?: string;
}
export type AuthorizedTransfer = Omit<CreateBill, 'openid'> & { authorization_id: string };
export interface Notification {
  id: string;
  create_time: string;
  event_type: string;
  resource_type: string;
  summary: string;
  resource: Resource;
}

// Pay-in (reference: the design of issue 24, "WeChat protocol facts"). time_expire is RFC 3339 in +08:00.
export interface PayOrder {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire: string;
  attach: string;
  notify_url: string;
  amount: { total: number; currency: 'CNY' };
}
export interface JsapiPayOrder extends PayOrder {
  payer: { openid: string };
}
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';
/** An order as a query (or a TRANSACTION notification's resource) shows it. */
export interface TransactionView {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: string;
  trade_state: TradeState;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  success_time?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string; payer_currency?: string };
}
export interface CreateRefund {
  out_trade_no: string;
  out_refund_no: string;
  reason?: string;
  notify_url: string;
  amount: { refund: number; total: number; currency: 'CNY' };
}
export type RefundState = 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL';
/** A refund as its create, its query (or, with refund_status, a REFUND notification's resource) shows it. */
export interface RefundAnswer {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  channel?: string;
  user_received_account?: string;
  create_time?: string;
  success_time?: string;
  status: RefundState;
  amount: { total: number; refund: number; payer_total?: number; payer_refund?: number; currency?: string };
}

const CERTIFICATES = '/v3/certificates';

export function createV3Client(config: V3Config, deps: { transport: Transport; nowS(): number }) {
  let encryptSerial = config.encryptSerial;
  /** A signed request; the answer as it came, unverified. */
  async function exchange(method: 'GET' | 'POST', path: string, body?: unknown) {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'ads-rewards-payouts',
      authorization: authorization(config, { method, path, body: text }, { timestampS: deps.nowS() }),
      // On every request, as the official SDKs do: during a move to the public key, the answer's key follows it.
      ...(encryptSerial ? { 'wechatpay-serial': encryptSerial } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const answer = await deps.transport.send(method, path, headers, text);
    return { ...answer, raw: answer.body.toString('utf8') };
  }
  /** The answer, verified with `keys`, as a value. */
  function read<T>(
    method: string,
    path: string,
    a: { status: number; headers: Record<string, string>; raw: string },
    keys: ReadonlyMap<string, KeyObject>,
    meaning = wechatError,
  ): V3Answer<T> {
    const verified = verifyWechatpay(a.headers, a.raw, keys, deps.nowS());
    if (
      !verified.ok &&
      a.status >= 400 &&
      a.status < 500 &&
      !Object.keys(a.headers).some((h) => h.toLowerCase().startsWith('wechatpay-'))
    )
      return unsigned(a, meaning);
    if (!verified.ok)
      throw new PipelineError(
        'wechat_unverified_answer',
        `${method} ${path} answered ${a.status} without a valid signature (${verified.reason})`,
        { retriable: true },
      );
    const data = (a.raw ? JSON.parse(a.raw) : {}) as T & { code?: string; message?: string };
    if (a.status >= 200 && a.status < 300) return { ok: true, status: a.status, data };
    const code = typeof data.code === 'string' ? data.code : `HTTP_${a.status}`;
    return { ok: false, status: a.status, code, message: String(data.message ?? ''), error: meaning(code) };
  }
  /**
   * An unsigned 4xx: WeChat's own refusal of a request it could not verify (SIGN_ERROR), or anyone's on
   * the path. Its code is read, but a code that would end the transfer (final) is taken as one a person
   * must look at: a forged "failed" must never release money WeChat may still pay.
   */
  function unsigned(a: { status: number; raw: string }, meaning: (code: string) => WechatErrorInfo): V3Answer<never> {
    let body: { code?: unknown; message?: unknown } = {};
    try {
      body = JSON.parse(a.raw) as typeof body;
    } catch {
      /* not JSON: the status alone */
    }
    const code = typeof body.code === 'string' ? body.code : `HTTP_${a.status}`;
    const info = meaning(code);
    return {
      ok: false,
      status: a.status,
      code,
      message: `${String(body.message ?? '')} (unsigned answer)`,
      error: info.final ? { ...info, final: false } : info,
      unsigned: true,
    };
  }
  const call = async <T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    meaning = wechatError,
  ): Promise<V3Answer<T>> => read<T>(method, path, await exchange(method, path, body), config.platformKeys, meaning);
  /** A pay-in call: its codes read as that call means them (errors.ts payInError). */
  const payIn = <T>(kind: PayInCall, method: 'GET' | 'POST', path: string, body?: unknown) =>
    call<T>(method, path, body, (code) => payInError(kind, code));
  const no = (n: string) => encodeURIComponent(n);

  /** A bill (`kind` fundflowbill or tradebill) of `billDate`: fetched, downloaded, and checked against its SHA1. */
  async function bill(kind: 'fundflowbill' | 'tradebill', billDate: string, query: string): Promise<V3Answer<string>> {
    const meta = await call<{ hash_type: string; hash_value: string; download_url: string }>(
      'GET',
      `/v3/bill/${kind}?${query}`,
    );
    if (!meta.ok) return meta;
    const url = new URL(meta.data.download_url);
    const path = `${url.pathname}${url.search}`;
    // The file itself is not signed: its SHA1, from the signed answer above, vouches for it.
    const file = await exchange('GET', path);
    if (file.status !== 200)
      return {
        ok: false,
        status: file.status,
        code: `HTTP_${file.status}`,
        message: 'bill download failed',
        error: wechatError('SYSTEM_ERROR'),
      };
    const sha1 = createHash('sha1').update(file.body).digest('hex');
    if (sha1 !== meta.data.hash_value.toLowerCase())
      throw new PipelineError(
        'wechat_bill_corrupt',
        `${kind} ${billDate}: SHA1 ${sha1} is not ${meta.data.hash_value}`,
        { retriable: true },
      );
    return { ok: true, status: 200, data: file.raw };
  }
  const q = (params: Record<string, string | number | boolean>) =>
    new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();

  return {
    /** RSA-OAEP under the key named by `encryptSerial`, for `user_name` and `user_id_card`. */
    encrypt: (plaintext: string) => encryptSensitive(config.platformKeys.get(encryptSerial)!, plaintext),

    /**
     * GET /v3/certificates: the platform certificates, each AEAD-encrypted under the APIv3 key, which
     * vouches for them. The answer is then verified with the certificates it carries. Adds their keys
     * to platformKeys and encrypts for the newest from then on. Returns the serials.
     */
    async refreshCertificates(): Promise<string[]> {
      const got = await exchange('GET', CERTIFICATES);
      const list =
        got.status === 200
          ? (
              JSON.parse(got.raw) as {
                data: { serial_no: string; effective_time: string; encrypt_certificate: Resource }[];
              }
            ).data
          : [];
      const certs = list.map((c) => ({
        serial: c.serial_no.toUpperCase(),
        effective: Date.parse(c.effective_time),
        cert: new X509Certificate(decryptResource(config.apiV3Key, c.encrypt_certificate)),
      }));
      const fresh = new Map(certs.map((c) => [c.serial, c.cert.publicKey]));
      // Verified with the certificates it carries, or (an error, e.g. 404 for a public-key-only merchant) with the keys known.
      const answer = read<unknown>('GET', CERTIFICATES, got, fresh.size > 0 ? fresh : config.platformKeys);
      if (!answer.ok)
        throw new PipelineError(`wechat_${answer.code}`, `GET ${CERTIFICATES}: ${answer.code} ${answer.message}`, {
          retriable: answer.error.retriable,
        });
      for (const [serial, key] of fresh) config.platformKeys.set(serial, key);
      if (!encryptSerial || !encryptSerial.startsWith('PUB_KEY_ID_'))
        encryptSerial = certs.sort((a, b) => b.effective - a.effective)[0]!.serial;
      return [...fresh.keys()];
    },
    createBatch: (body: CreateBatch) =>
      call<{ out_batch_no: string; batch_id: string; create_time: string; batch_status: string }>(
        'POST',
        '/v3/transfer/batches',
        body,
      ),
    getBatch: (outBatchNo: string, page: { offset: number; limit: number }) =>
      call<BatchView>(
        'GET',
        `/v3/transfer/batches/out-batch-no/${outBatchNo}?${q({ need_query_detail: true, offset: page.offset, limit: page.limit, detail_status: 'ALL' })}`,
      ),
    getDetail: (outBatchNo: string, outDetailNo: string) =>
      call<DetailView>('GET', `/v3/transfer/batches/out-batch-no/${outBatchNo}/details/out-detail-no/${outDetailNo}`),
    createBill: (body: CreateBill) => call<BillView>('POST', '/v3/fund-app/mch-transfer/transfer-bills', body),
    getBill: (outBillNo: string) =>
      call<BillView>('GET', `/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/${outBillNo}`),
    createAuthorization: (body: CreateAuthorization) =>
      call<AuthorizationView>('POST', '/v3/fund-app/mch-transfer/user-confirm-authorization', body),
    getAuthorization: (outNo: string) =>
      call<AuthorizationView>(
        'GET',
        `/v3/fund-app/mch-transfer/user-confirm-authorization/out-authorization-no/${outNo}`,
      ),
    transferBill: (body: AuthorizedTransfer) =>
      call<BillView>('POST', '/v3/fund-app/mch-transfer/transfer-bills/transfer', body),
    cancelBill: (outBillNo: string) =>
      call<{ out_bill_no: string; state: BillState }>(
        'POST',
        `/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/${outBillNo}/cancel`,
        {},
      ),

    /** The operating account's fund-flow bill of `billDate` (yyyy-MM-dd), checked against its SHA1. */
    fundflowBill: (billDate: string) =>
      bill('fundflowbill', billDate, q({ bill_date: billDate, account_type: 'OPERATION' })),
    /** The trade bill (every payment and refund) of `billDate` (yyyy-MM-dd), checked against its SHA1. */
    tradeBill: (billDate: string) => bill('tradebill', billDate, q({ bill_date: billDate, bill_type: 'ALL' })),

    createNativeOrder: (body: PayOrder) =>
      payIn<{ code_url: string }>('order', 'POST', '/v3/pay/transactions/native', body),
    createJsapiOrder: (body: JsapiPayOrder) =>
      payIn<{ prepay_id: string }>('order', 'POST', '/v3/pay/transactions/jsapi', body),
    getOrder: (outTradeNo: string) =>
      payIn<TransactionView>(
        'query',
        'GET',
        `/v3/pay/transactions/out-trade-no/${no(outTradeNo)}?${q({ mchid: config.mchid })}`,
      ),
    /** 204 with an empty body, signed like any answer. Only a query's CLOSED proves the order closed. */
    closeOrder: (outTradeNo: string) =>
      payIn<Record<string, never>>('close', 'POST', `/v3/pay/transactions/out-trade-no/${no(outTradeNo)}/close`, {
        mchid: config.mchid,
      }),
    createRefund: (body: CreateRefund) => payIn<RefundAnswer>('refund', 'POST', '/v3/refund/domestic/refunds', body),
    getRefund: (outRefundNo: string) =>
      payIn<RefundAnswer>('refund_query', 'GET', `/v3/refund/domestic/refunds/${no(outRefundNo)}`),
    /** wx.requestPayment's paySign, with the merchant key (which stays in here). */
    jsapiPaySign: (fields: JsapiPayFields) => jsapiPaySign(config.privateKey, fields),

    /** A callback: verified against the platform keys, then decrypted; an error when it does not verify or decrypt. */
    readNotification(
      headers: Record<string, string | undefined>,
      body: string,
    ): { notification: Notification; resource: Record<string, unknown> } | { error: string } {
      const verified = verifyWechatpay(headers, body, config.platformKeys, deps.nowS());
      if (!verified.ok) return { error: verified.reason };
      try {
        const notification = JSON.parse(body) as Notification;
        return {
          notification,
          resource: JSON.parse(decryptResource(config.apiV3Key, notification.resource)) as Record<string, unknown>,
        };
      } catch (err) {
        return { error: `undecryptable: ${(err as Error).message}` };
      }
    },
  };
}
export type V3Client = ReturnType<typeof createV3Client>;
