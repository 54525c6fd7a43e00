// The transfer bill (商家转账, /v3/fund-app/mch-transfer/transfer-bills): one bill per transfer, which
// the user confirms on WeChat's page. The product a merchant of 2026 gets (README "Which product").
import type { BillView, V3Client } from '../wechat/v3-client.js';
import { each, pending, refused, v3Bill, type Item, type ItemResult, type Provider, type BatchParams, type ProviderConfig } from './provider.js';

export function createV3BillProvider(config: ProviderConfig, client: V3Client): Provider {
  const result = (v: BillView): ItemResult => {
    if (v.state === 'SUCCESS') return { requestNo: v.out_bill_no, outcome: 'succeeded', providerId: v.transfer_bill_no };
    if (v.state === 'FAIL' || v.state === 'CANCELLED') return { requestNo: v.out_bill_no, outcome: 'failed', reason: v.fail_reason ?? v.state, providerId: v.transfer_bill_no };
    return { ...pending(v.out_bill_no), providerId: v.transfer_bill_no, ...(v.package_info ? { packageInfo: v.package_info } : {}) };
  };
  const send = async (i: Item, params: BatchParams): Promise<ItemResult> => {
    const a = await client.createBill({
      appid: config.appid, out_bill_no: i.requestNo, transfer_scene_id: params.sceneId, openid: i.openid, transfer_amount: i.amountFen,
      transfer_remark: params.remark, transfer_scene_report_infos: params.sceneReport, ...(params.notifyUrl ? { notify_url: params.notifyUrl } : {}),
    });
    return a.ok ? result(a.data) : refused(i.requestNo, a);
  };
  return {
    api: 'v3_bill', maxBatch: config.maxBatch, bill: v3Bill(client),
    submit: (_batchNo, items, params) => each(items, (i) => send(i, params)),
    query: (_batchNo, items, params) => each(items, async (i) => {
      const a = await client.getBill(i.requestNo);
      if (a.ok) return result(a.data);
      return a.code === 'NOT_FOUND' ? send(i, params) : pending(i.requestNo, a.code);
    }),
  };
}
