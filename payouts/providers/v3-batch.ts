// The v3 batch transfer (发起商家转账, /v3/transfer/batches): up to 1,000 details per call. Closed to
// new merchants since 2025-01-15; kept for merchants that still have it (README "Which product").
import { PipelineError } from '../../common/errors.js';
import type { BatchDetail, V3Client } from '../wechat/v3-client.js';
import {
  pending,
  v3Bill,
  type BatchParams,
  type Item,
  type ItemResult,
  type Provider,
  type ProviderConfig,
} from './provider.js';

const PAGE = 100;

/**
 * The parameters of a batch whose details all carry the payee's real name (form-pg.ts forms them
 * apart: WeChat takes names on all details of a batch or on none). Stored with the batch, so a
 * resubmission is named too.
 */
export const namedParams = (p: BatchParams): BatchParams & { realNames: true } => ({ ...p, realNames: true });
const isNamed = (p: BatchParams) => (p as { realNames?: unknown }).realNames === true;

/** A detail; in a named batch with `user_name` encrypted for the key named by the Wechatpay-Serial header. */
function detail(i: Item, params: BatchParams, encrypt: (plain: string) => string): BatchDetail {
  const base = {
    out_detail_no: i.requestNo,
    transfer_amount: Number(i.amountFen),
    transfer_remark: params.remark,
    openid: i.openid,
  };
  if (!isNamed(params)) return base;
  if (i.userName === undefined)
    throw new PipelineError('real_name_missing', `${i.requestNo}: a named batch's transfer has no real name`, {
      retriable: false,
    });
  return { ...base, user_name: encrypt(i.userName) };
}

export function createV3BatchProvider(config: ProviderConfig, client: V3Client): Provider {
  const submit: Provider['submit'] = async (batchNo, items, params) => {
    const answer = await client.createBatch({
      appid: config.appid,
      out_batch_no: batchNo,
      batch_name: params.remark,
      batch_remark: params.remark,
      total_amount: Number(items.reduce((s, i) => s + i.amountFen, 0n)),
      total_num: items.length,
      transfer_scene_id: params.sceneId,
      ...(params.notifyUrl ? { notify_url: params.notifyUrl } : {}),
      transfer_detail_list: items.map((i) => detail(i, params, client.encrypt)),
    });
    if (!answer.ok) return answer;
    return { ok: true, providerBatchId: answer.data.batch_id, results: items.map((i) => pending(i.requestNo)) };
  };
  return {
    api: 'v3_batch',
    maxBatch: Math.min(config.maxBatch, 1000),
    bill: v3Bill(client),
    submit,
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
        if (status === 'CLOSED')
          return {
            ok: true,
            results: items.map((i) => ({ requestNo: i.requestNo, outcome: 'failed', reason: closeReason ?? 'CLOSED' })),
          };
        if (status !== 'FINISHED') return { ok: true, results: items.map((i) => pending(i.requestNo)) };
        for (const d of page.data.transfer_detail_list ?? []) {
          results.set(
            d.out_detail_no,
            d.detail_status === 'SUCCESS'
              ? { requestNo: d.out_detail_no, outcome: 'succeeded', providerId: d.detail_id }
              : d.detail_status === 'FAIL'
                ? { requestNo: d.out_detail_no, outcome: 'failed', providerId: d.detail_id }
                : pending(d.out_detail_no),
          );
        }
        if (offset + PAGE >= total) break;
      }
      for (const r of results.values()) {
        if (r.outcome !== 'failed') continue;
        const detail = await client.getDetail(batchNo, r.requestNo);
        r.reason = detail.ok ? (detail.data.fail_reason ?? 'FAIL') : 'FAIL';
      }
      return { ok: true, results: items.map((i) => results.get(i.requestNo) ?? pending(i.requestNo)) };
    },
  };
}
