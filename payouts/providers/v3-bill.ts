// The transfer bill (商家转账, /v3/fund-app/mch-transfer/transfer-bills): one bill per transfer, which
// the user confirms on WeChat's page. The product a merchant of 2026 gets (README "Which product").
import type { BillView, V3Client } from '../wechat/v3-client.js';
import {
  each,
  pending,
  refused,
  unanswered,
  v3Bill,
  type Item,
  type ItemResult,
  type Provider,
  type BatchParams,
  type ProviderConfig,
  type Refusal,
} from './provider.js';

export function createV3BillProvider(config: ProviderConfig, client: V3Client): Provider {
  /** A bill as WeChat shows it; `providerState` is its state word. A package comes only in a create's answer. */
  const result = (v: BillView): ItemResult => {
    const seen = { requestNo: v.out_bill_no, providerId: v.transfer_bill_no, providerState: v.state };
    if (v.state === 'SUCCESS') return { ...seen, outcome: 'succeeded' };
    if (v.state === 'FAIL' || v.state === 'CANCELLED')
      return { ...seen, outcome: 'failed', reason: v.fail_reason ?? v.state };
    return { ...seen, outcome: 'pending', ...(v.package_info ? { packageInfo: v.package_info } : {}) };
  };
  /** Creates the bill; sent again (a NOT_FOUND, a package refresh) it carries the same number and body. */
  const send = async (i: Item, params: BatchParams): Promise<ItemResult | Refusal> => {
    const body = {
      appid: config.appid,
      out_bill_no: i.requestNo,
      transfer_scene_id: params.sceneId,
      transfer_amount: Number(i.amountFen),
      transfer_remark: params.remark,
      transfer_scene_report_infos: params.sceneReport,
      ...(params.notifyUrl ? { notify_url: params.notifyUrl } : {}),
      // The real name snapshotted when formed (from 2,000 yuan), RSA-OAEP for the key the Wechatpay-Serial header names.
      ...(i.userName !== undefined ? { user_name: client.encrypt(i.userName) } : {}),
    };
    // With the payee's authorization (PAYOUTS_BILL_CONFIRM_MODE=authorized, fixed before the first send): no confirm page [U].
    const a = i.authorizationId
      ? await client.transferBill({ ...body, authorization_id: i.authorizationId })
      : await client.createBill({ ...body, openid: i.openid });
    // v3-client.ts marks an unsigned 4xx in its message (it has no field for it): never one transfer's alone.
    return a.ok ? result(a.data) : refused(i.requestNo, a, !a.unsigned);
  };
  return {
    api: 'v3_bill',
    maxBatch: config.maxBatch,
    bill: v3Bill(client),
    submit: (_batchNo, items, params) => each(items, (i) => send(i, params)),
    query: (_batchNo, items, params) =>
      each(items, async (i) => {
        const a = await client.getBill(i.requestNo);
        if (a.ok) return result(a.data);
        return a.code === 'NOT_FOUND' ? send(i, params) : unanswered(i.requestNo, a);
      }),
    // The bill exists: a refused refresh holds nothing (bill-lifecycle.ts logs it).
    refresh: (_batchNo, items, params) => each(items, (i) => send(i, params), { hold: false }),
    async cancel(requestNo) {
      const a = await client.cancelBill(requestNo);
      return a.ok ? { requestNo, outcome: 'pending', providerState: a.data.state } : pending(requestNo, a.code);
    },
  };
}
