// WeChat's pay-in notifications (README "Top-ups and refunds"): v3 TRANSACTION.* and REFUND.* (verified
// and decrypted by the caller), v2's pay XML (signed) and refund XML (req_info, encrypted under the
// API v2 key). Each is applied (applyTrade, applyRefund) before it is answered: 204 / SUCCESS only once
// committed, 500 / FAIL when it could not be, so WeChat sends it again. One for an order or refund
// not known here is acknowledged, logged and counted: sending it again would change nothing.
import type { Logger } from '../../common/log.js';
import type { ApiResponse } from '../../common/http-server.js';
import { parseV2Xml, toV2Xml, verifyV2, type V2SignType } from '../wechat/v2-protocol.js';
import type { RefundView, Trade } from './pay-in.js';
import { refundViewOf, tradeOf } from './pay-in-v3.js';
import { decryptV2RefundInfo, refundViewOfV2, tradeOfV2 } from './pay-in-v2.js';

type Applied = Promise<{ known: boolean }>;
const xml = (status: number, code: 'SUCCESS' | 'FAIL', msg: string): ApiResponse => ({
  status,
  body: toV2Xml({ return_code: code, return_msg: msg }),
  headers: { 'content-type': 'text/xml; charset=utf-8' },
});

export function createTopupNotifications(
  config: { apiV2Key: string; v2SignType: V2SignType },
  deps: {
    applyTrade(t: Trade): Applied;
    applyRefund(v: RefundView): Applied;
    metrics: { topupNotification(kind: string, result: string): void };
    log: Logger;
  },
) {
  const log = deps.log.child({ mod: 'topup_notify' });

  /** Applies what a notification says; the result word, or 'failed' when it could not be committed. */
  async function apply(
    kind: string,
    word: Trade | RefundView | undefined,
    raw: unknown,
  ): Promise<'applied' | 'unknown_reference' | 'unreadable' | 'failed'> {
    let result: 'applied' | 'unknown_reference' | 'unreadable' | 'failed';
    if (!word) {
      // Verified, but not a shape WeChat sends: the order's own query settles it.
      log.error({ kind, resource: JSON.stringify(raw).slice(0, 300) }, 'topup_notification_unreadable');
      result = 'unreadable';
    } else {
      try {
        result = (await ('tradeState' in word ? deps.applyTrade(word) : deps.applyRefund(word))).known
          ? 'applied'
          : 'unknown_reference';
      } catch (err) {
        log.error({ err, kind }, 'topup_notification_failed');
        result = 'failed';
      }
    }
    deps.metrics.topupNotification(kind, result);
    return result;
  }

  return {
    /** A verified v3 notification: answered here when it is a pay-in event, else undefined (the payouts' own). */
    async v3(eventType: string, resource: Record<string, unknown>): Promise<ApiResponse | undefined> {
      const kind = eventType.startsWith('TRANSACTION.')
        ? 'v3_pay'
        : eventType.startsWith('REFUND.')
          ? 'v3_refund'
          : undefined;
      if (!kind) return undefined;
      const result = await apply(kind, kind === 'v3_pay' ? tradeOf(resource) : refundViewOf(resource), resource);
      return result === 'failed'
        ? { status: 500, body: { code: 'FAIL', message: 'not recorded; send it again' } }
        : { status: 204, body: '' };
    },

    /** POST /v1/wechat/notify/v2/pay: signed with the configured type only; a failed payment (result_code FAIL) changes nothing. */
    async v2Pay(body: string): Promise<ApiResponse> {
      const fields = parseV2Xml(body);
      if (!fields || !verifyV2(fields, config.apiV2Key, config.v2SignType)) {
        deps.metrics.topupNotification('v2_pay', 'rejected');
        return xml(200, 'FAIL', 'sign or XML invalid');
      }
      if (fields.return_code !== 'SUCCESS' || fields.result_code !== 'SUCCESS') {
        log.info({ outTradeNo: fields.out_trade_no, code: fields.err_code }, 'topup_payment_failed_notified');
        return xml(200, 'SUCCESS', 'OK');
      }
      const result = await apply('v2_pay', tradeOfV2(fields), fields);
      return result === 'failed' ? xml(500, 'FAIL', 'not recorded; send it again') : xml(200, 'SUCCESS', 'OK');
    },

    /** POST /v1/wechat/notify/v2/refund: unsigned; req_info decrypting under our key is what vouches for it. */
    async v2Refund(body: string): Promise<ApiResponse> {
      const outer = parseV2Xml(body);
      const info = outer?.req_info ? decryptV2RefundInfo(outer.req_info, config.apiV2Key) : undefined;
      if (!info) {
        deps.metrics.topupNotification('v2_refund', 'rejected');
        return xml(200, 'FAIL', 'req_info invalid');
      }
      const result = await apply('v2_refund', refundViewOfV2(info), info);
      return result === 'failed' ? xml(500, 'FAIL', 'not recorded; send it again') : xml(200, 'SUCCESS', 'OK');
    },
  };
}
export type TopupNotifications = ReturnType<typeof createTopupNotifications>;
