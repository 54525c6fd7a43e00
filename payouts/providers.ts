// The three WeChat transfer products behind one interface: a batch of items is submitted, then
// queried until every item is final. Resubmitting and querying always reuse the item's request
// number and exact parameters, so neither can pay twice. Which product a merchant uses is config.
import { PipelineError } from '../common/errors.js';
import type { WechatErrorInfo } from './wechat/errors.js';
import type { V2Client } from './wechat/v2-client.js';
import type { BillView, V3Client } from './wechat/v3-client.js';

export type Api = 'v2_transfer' | 'v3_batch' | 'v3_bill';
export interface Item { requestNo: string; amountFen: number; openid: string }
export interface ItemResult { requestNo: string; outcome: 'succeeded' | 'failed' | 'pending'; reason?: string; providerId?: string; packageInfo?: string }
export type Answer = { ok: true; results: ItemResult[]; providerBatchId?: string } | { ok: false; code: string; message: string; error: WechatErrorInfo };

/** A day's fund-flow bill: its text, none for a day without movements, or not made yet. */
export type Bill = { ok: true; text: string } | { ok: false; reason: 'creating' | 'failed'; detail: string };

export interface Provider {
  api: Api;
  /** The fund-flow bill of China calendar day `day` (yyyy-MM-dd). */
  bill(day: string): Promise<Bill>;
  /** Items per submit: 1000 for v3 batches (WeChat's maximum); the others send one call per item. */
  maxBatch: number;
  submit(batchNo: string, items: Item[]): Promise<Answer>;
  query(batchNo: string, items: Item[]): Promise<Answer>;
}

export interface ProviderConfig { appid: string; remark: string; notifyUrl?: string; sceneId: string; sceneReport: { info_type: string; info_content: string }[]; clientIp: string; maxBatch: number }

const PAGE = 100;
const pending = (requestNo: string, reason?: string): ItemResult => ({ requestNo, outcome: 'pending', ...(reason ? { reason } : {}) });
/** A refused send: failed for good when the code is final, else still pending (retried, or a person looks). */
const refused = (requestNo: string, a: { code: string; error: WechatErrorInfo }): ItemResult =>
  (a.error.final ? { requestNo, outcome: 'failed', reason: a.code } : pending(requestNo, a.code));

/** An item's call that threw (network, timeout, unverifiable answer): its outcome is unknown, so it stays pending. */
async function each(items: Item[], call: (item: Item) => Promise<ItemResult>): Promise<Answer> {
  const results: ItemResult[] = [];
  for (const item of items) {
    try {
      results.push(await call(item));
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      results.push(pending(item.requestNo, err.code));
    }
  }
  return { ok: true, results };
}

/** v3: NO_STATEMENT_EXIST is a day without movements, an empty bill. */
const v3Bill = (client: V3Client) => async (day: string): Promise<Bill> => {
  const a = await client.fundflowBill(day);
  if (a.ok) return { ok: true, text: a.data };
  if (a.code === 'NO_STATEMENT_EXIST') return { ok: true, text: '' };
  return { ok: false, reason: a.code === 'STATEMENT_CREATING' ? 'creating' : 'failed', detail: `${a.code} ${a.message}` };
};

export function createV3BatchProvider(config: ProviderConfig, client: V3Client): Provider {
  const submit: Provider['submit'] = async (batchNo, items) => {
    const answer = await client.createBatch({
      appid: config.appid, out_batch_no: batchNo, batch_name: config.remark, batch_remark: config.remark,
      total_amount: items.reduce((s, i) => s + i.amountFen, 0), total_num: items.length, transfer_scene_id: config.sceneId,
      ...(config.notifyUrl ? { notify_url: config.notifyUrl } : {}),
      transfer_detail_list: items.map((i) => ({ out_detail_no: i.requestNo, transfer_amount: i.amountFen, transfer_remark: config.remark, openid: i.openid })),
    });
    if (!answer.ok) return answer;
    return { ok: true, providerBatchId: answer.data.batch_id, results: items.map((i) => pending(i.requestNo)) };
  };
  return {
    api: 'v3_batch', maxBatch: Math.min(config.maxBatch, 1000), bill: v3Bill(client), submit,
    /**
     * One call while the batch is in flight; once FINISHED, one per 100 details, plus one per failed
     * detail for its reason. Only a batch whose create call WeChat answered is queried, so a NOT_FOUND
     * is its query lagging (retriable, asked again later), never a reason to send the batch again.
     */
    async query(batchNo, items) {
      const results = new Map<string, ItemResult>();
      for (let offset = 0; ; offset += PAGE) {
        const page = await client.getBatch(batchNo, { offset, limit: PAGE });
        if (!page.ok) return page;
        const { batch_status: status, close_reason: closeReason, total_num: total } = page.data.transfer_batch;
        if (status === 'CLOSED') return { ok: true, results: items.map((i) => ({ requestNo: i.requestNo, outcome: 'failed', reason: closeReason ?? 'CLOSED' })) };
        if (status !== 'FINISHED') return { ok: true, results: items.map((i) => pending(i.requestNo)) };
        for (const d of page.data.transfer_detail_list ?? []) {
          results.set(d.out_detail_no, d.detail_status === 'SUCCESS' ? { requestNo: d.out_detail_no, outcome: 'succeeded', providerId: d.detail_id }
            : d.detail_status === 'FAIL' ? { requestNo: d.out_detail_no, outcome: 'failed', providerId: d.detail_id } : pending(d.out_detail_no));
        }
        if (offset + PAGE >= total) break;
      }
      for (const r of results.values()) {
        if (r.outcome !== 'failed') continue;
        const detail = await client.getDetail(batchNo, r.requestNo);
        r.reason = detail.ok ? detail.data.fail_reason ?? 'FAIL' : 'FAIL';
      }
      return { ok: true, results: items.map((i) => results.get(i.requestNo) ?? pending(i.requestNo)) };
    },
  };
}

export function createV2Provider(config: ProviderConfig, client: V2Client): Provider {
  const send = async (i: Item): Promise<ItemResult> => {
    const a = await client.transfer({ partner_trade_no: i.requestNo, openid: i.openid, amount: i.amountFen, desc: config.remark, check_name: 'NO_CHECK', spbill_create_ip: config.clientIp });
    return a.ok ? { requestNo: i.requestNo, outcome: 'succeeded', providerId: a.fields.payment_no } : refused(i.requestNo, a);
  };
  return {
    api: 'v2_transfer', maxBatch: config.maxBatch,
    /** v2: error_code 20002 is "No Bill Exist", a day without movements. */
    async bill(day) {
      const a = await client.downloadFundflow(day.replaceAll('-', ''));
      if (a.ok) return a;
      return a.errorCode === '20002' ? { ok: true, text: '' } : { ok: false, reason: 'failed', detail: `${a.errorCode} ${a.message}` };
    },
    submit: (_batchNo, items) => each(items, send),
    /** gettransferinfo per item; NOT_FOUND means the transfer never arrived, so it is sent again with the same number. */
    query: (_batchNo, items) => each(items, async (i) => {
      const a = await client.getTransferInfo(i.requestNo);
      if (!a.ok) return a.code === 'NOT_FOUND' ? send(i) : pending(i.requestNo, a.code);
      const status = a.fields.status;
      if (status === 'SUCCESS') return { requestNo: i.requestNo, outcome: 'succeeded', providerId: a.fields.detail_id };
      if (status === 'FAILED') return { requestNo: i.requestNo, outcome: 'failed', reason: a.fields.reason || 'FAILED' };
      return pending(i.requestNo);
    }),
  };
}

export function createV3BillProvider(config: ProviderConfig, client: V3Client): Provider {
  const result = (v: BillView): ItemResult => {
    if (v.state === 'SUCCESS') return { requestNo: v.out_bill_no, outcome: 'succeeded', providerId: v.transfer_bill_no };
    if (v.state === 'FAIL' || v.state === 'CANCELLED') return { requestNo: v.out_bill_no, outcome: 'failed', reason: v.fail_reason ?? v.state, providerId: v.transfer_bill_no };
    return { ...pending(v.out_bill_no), providerId: v.transfer_bill_no, ...(v.package_info ? { packageInfo: v.package_info } : {}) };
  };
  const send = async (i: Item): Promise<ItemResult> => {
    const a = await client.createBill({
      appid: config.appid, out_bill_no: i.requestNo, transfer_scene_id: config.sceneId, openid: i.openid, transfer_amount: i.amountFen,
      transfer_remark: config.remark, transfer_scene_report_infos: config.sceneReport, ...(config.notifyUrl ? { notify_url: config.notifyUrl } : {}),
    });
    return a.ok ? result(a.data) : refused(i.requestNo, a);
  };
  return {
    api: 'v3_bill', maxBatch: config.maxBatch, bill: v3Bill(client),
    submit: (_batchNo, items) => each(items, send),
    query: (_batchNo, items) => each(items, async (i) => {
      const a = await client.getBill(i.requestNo);
      if (a.ok) return result(a.data);
      return a.code === 'NOT_FOUND' ? send(i) : pending(i.requestNo, a.code);
    }),
  };
}
