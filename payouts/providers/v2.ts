// The APIv2 transfer to change (企业付款到零钱, /mmpaymkttransfers/promotion/transfers): one call per
// transfer, queried by gettransferinfo. Being withdrawn; kept for merchants that still have it.
import type { V2Client } from '../wechat/v2-client.js';
import {
  each,
  pending,
  refused,
  unanswered,
  type Item,
  type ItemResult,
  type Provider,
  type BatchParams,
  type ProviderConfig,
  type Refusal,
} from './provider.js';

export function createV2Provider(config: ProviderConfig, client: V2Client): Provider {
  const send = async (i: Item, params: BatchParams): Promise<ItemResult | Refusal> => {
    const a = await client.transfer({
      partner_trade_no: i.requestNo,
      openid: i.openid,
      amount: Number(i.amountFen),
      desc: params.remark,
      spbill_create_ip: config.clientIp,
      // The real name, where WeChat's rule needs it (reference/wechatpay.md §2: plain, FORCE_CHECK).
      ...(i.userName
        ? { check_name: 'FORCE_CHECK' as const, re_user_name: i.userName }
        : { check_name: 'NO_CHECK' as const }),
    });
    // Transfer answers are never signed; return_code SUCCESS (result_code FAIL) is WeChat's refusal of the transfer
    // itself, return_code FAIL one of the request (certificate, signature): only the first may be this transfer's alone.
    return a.ok
      ? { requestNo: i.requestNo, outcome: 'succeeded', providerId: a.fields.payment_no }
      : refused(i.requestNo, a, a.fields.return_code === 'SUCCESS');
  };
  return {
    api: 'v2_transfer',
    maxBatch: config.maxBatch,
    /** v2: error_code 20002 is "No Bill Exist", a day without movements. */
    async bill(day) {
      const a = await client.downloadFundflow(day.replaceAll('-', ''));
      if (a.ok) return a;
      return a.errorCode === '20002'
        ? { ok: true, text: '' }
        : { ok: false, reason: 'failed', detail: `${a.errorCode} ${a.message}` };
    },
    submit: (_batchNo, items, params) => each(items, (i) => send(i, params)),
    /** gettransferinfo per item; NOT_FOUND means the transfer never arrived, so it is sent again with the same number. */
    query: (_batchNo, items, params) =>
      each(items, async (i) => {
        const a = await client.getTransferInfo(i.requestNo);
        if (!a.ok) return a.code === 'NOT_FOUND' ? send(i, params) : unanswered(i.requestNo, a);
        const status = a.fields.status;
        if (status === 'SUCCESS')
          return { requestNo: i.requestNo, outcome: 'succeeded', providerId: a.fields.detail_id };
        if (status === 'FAILED')
          return { requestNo: i.requestNo, outcome: 'failed', reason: a.fields.reason || 'FAILED' };
        return pending(i.requestNo);
      }),
  };
}
