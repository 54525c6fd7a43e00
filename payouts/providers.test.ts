// Every provider, asked about a payout WeChat does not know (NOT_FOUND: it never arrived), sends it
// again with the same number and body instead of reporting it pending forever. Fake clients record
// what would go out.
import { describe, expect, it } from 'vitest';
import { createV2Provider, createV3BatchProvider, createV3BillProvider, type Item, type ProviderConfig } from './providers.js';
import { wechatError } from './wechat/errors.js';
import type { V2Client } from './wechat/v2-client.js';
import type { V3Client } from './wechat/v3-client.js';

const config: ProviderConfig = { appid: 'wxapp', remark: 'reward', sceneId: '1000', sceneReport: [], clientIp: '127.0.0.1', maxBatch: 1000 };
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
    ['v3_batch', (f: ReturnType<typeof fakes>) => createV3BatchProvider(config, f.v3), ['batch B1: R1,R2'], { providerBatchId: 'WX1', outcomes: ['pending', 'pending'] }],
    ['v2_transfer', (f: ReturnType<typeof fakes>) => createV2Provider(config, f.v2), ['transfer R1', 'transfer R2'], { outcomes: ['succeeded', 'succeeded'] }],
    ['v3_bill', (f: ReturnType<typeof fakes>) => createV3BillProvider(config, f.v3), ['bill R1', 'bill R2'], { outcomes: ['pending', 'pending'] }],
  ] as const)('%s sends it again with the same numbers', async (_api, make, sent, expected) => {
    const f = fakes();
    const answer = await make(f).query('B1', items);
    expect(f.sent).toEqual(sent);
    expect(answer.ok && answer.results.map((r) => r.outcome)).toEqual(expected.outcomes);
    if ('providerBatchId' in expected) expect(answer).toMatchObject({ providerBatchId: expected.providerBatchId });
  });
});
