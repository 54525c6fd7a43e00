// A transfer WeChat does not know (NOT_FOUND) is sent again with the same number by the per-transfer
// providers, instead of being reported pending forever; a v3 batch is never sent again from a query,
// since only a batch WeChat accepted is queried. Fake clients record what would go out.
import { describe, expect, it } from 'vitest';
import type { BatchParams, Item, ProviderConfig } from './provider.js';
import { createV2Provider } from './v2.js';
import { createV3BatchProvider } from './v3-batch.js';
import { createV3BillProvider } from './v3-bill.js';
import { wechatError } from '../wechat/errors.js';
import type { V2Client } from '../wechat/v2-client.js';
import type { V3Client } from '../wechat/v3-client.js';

const config: ProviderConfig = { appid: 'wxapp', clientIp: '127.0.0.1', maxBatch: 1000 };
const params: BatchParams = { remark: 'reward', sceneId: '1000', sceneReport: [] };
const items: Item[] = [{ requestNo: 'R1', amountFen: 100, openid: 'o1' }, { requestNo: 'R2', amountFen: 200, openid: 'o2' }];
const notFound = { ok: false as const, status: 404, code: 'NOT_FOUND', message: '记录不存在', error: wechatError('NOT_FOUND'), fields: {} };

function fakes() {
  const sent: string[] = [];
  const v3 = {
    getBatch: async () => notFound,
    createBatch: async (b: { out_batch_no: string; transfer_detail_list: { out_detail_no: string }[] }) => {
      sent.push(`batch ${b.out_batch_no}: ${b.transfer_detail_list.map((d) => d.out_detail_no).join(',')}`);
      return { ok: true, status: 200, data: { out_batch_no: b.out_batch_no, batch_id: 'WX1', create_time: '', batch_status: 'ACCEPTED' } };
    },
    getBill: async () => notFound,
    createBill: async (b: { out_bill_no: string }) => {
      sent.push(`bill ${b.out_bill_no}`);
      return { ok: true, status: 200, data: { out_bill_no: b.out_bill_no, transfer_bill_no: `WX${b.out_bill_no}`, state: 'WAIT_USER_CONFIRM', package_info: 'pkg' } };
    },
  } as unknown as V3Client;
  const v2 = {
    getTransferInfo: async () => notFound,
    transfer: async (t: { partner_trade_no: string }) => {
      sent.push(`transfer ${t.partner_trade_no}`);
      return { ok: true, fields: { payment_no: `P${t.partner_trade_no}` } };
    },
  } as unknown as V2Client;
  return { sent, v3, v2 };
}

describe('querying what the provider does not know', () => {
  it.each([
    ['v2_transfer', (f: ReturnType<typeof fakes>) => createV2Provider(config, f.v2), ['transfer R1', 'transfer R2'], { outcomes: ['succeeded', 'succeeded'] }],
    ['v3_bill', (f: ReturnType<typeof fakes>) => createV3BillProvider(config, f.v3), ['bill R1', 'bill R2'], { outcomes: ['pending', 'pending'] }],
  ] as const)('%s sends it again with the same numbers', async (_api, make, sent, expected) => {
    const f = fakes();
    const answer = await make(f).query('B1', items, params);
    expect(f.sent).toEqual(sent);
    expect(answer.ok && answer.results.map((r) => r.outcome)).toEqual(expected.outcomes);
  });

  // A batch is queried only once its create call was answered with a batch id: WeChat holds it, and a
  // NOT_FOUND is its query lagging. Sent again, under a changed merchant id or with a recheck's subset
  // of the items, it could pay twice; so the query answers NOT_FOUND (retriable) and asks again later.
  it('v3_batch never sends a queried batch again, and reports the NOT_FOUND', async () => {
    const f = fakes();
    const answer = await createV3BatchProvider(config, f.v3).query('B1', items, params);
    expect(f.sent).toEqual([]);
    expect(answer).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(!answer.ok && answer.error.retriable).toBe(true);
  });
});
