// A transfer WeChat does not know (NOT_FOUND) is sent again with the same number by the per-transfer
// providers, instead of being reported pending forever; a v3 batch is never sent again from a query,
// since only a batch WeChat accepted is queried. Fake clients record what would go out.
import { describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import type { BatchParams, Item, ProviderConfig } from './provider.js';
import { createV2Provider } from './v2.js';
import { createV3BatchProvider } from './v3-batch.js';
import { createV3BillProvider } from './v3-bill.js';
import { wechatError } from '../wechat/errors.js';
import type { V2Client } from '../wechat/v2-client.js';
import type { V3Client } from '../wechat/v3-client.js';

const config: ProviderConfig = { appid: 'wxapp', clientIp: '127.0.0.1', maxBatch: 1000 };
const params: BatchParams = { remark: 'reward', sceneId: '1000', sceneReport: [] };
const items: Item[] = [
  { requestNo: 'R1', amountFen: fen(100), openid: 'o1' },
  { requestNo: 'R2', amountFen: fen(200), openid: 'o2' },
];
const notFound = {
  ok: false as const,
  status: 404,
  code: 'NOT_FOUND',
  message: '记录不存在',
  error: wechatError('NOT_FOUND'),
  fields: {},
};

function fakes() {
  const sent: string[] = [];
  const v3 = {
    getBatch: async () => notFound,
    createBatch: async (b: { out_batch_no: string; transfer_detail_list: { out_detail_no: string }[] }) => {
      sent.push(`batch ${b.out_batch_no}: ${b.transfer_detail_list.map((d) => d.out_detail_no).join(',')}`);
      return {
        ok: true,
        status: 200,
        data: { out_batch_no: b.out_batch_no, batch_id: 'WX1', create_time: '', batch_status: 'ACCEPTED' },
      };
    },
    getBill: async () => notFound,
    createBill: async (b: { out_bill_no: string }) => {
      sent.push(`bill ${b.out_bill_no}`);
      return {
        ok: true,
        status: 200,
        data: {
          out_bill_no: b.out_bill_no,
          transfer_bill_no: `WX${b.out_bill_no}`,
          state: 'WAIT_USER_CONFIRM',
          package_info: 'pkg',
        },
      };
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
    [
      'v2_transfer',
      (f: ReturnType<typeof fakes>) => createV2Provider(config, f.v2),
      ['transfer R1', 'transfer R2'],
      { outcomes: ['succeeded', 'succeeded'] },
    ],
    [
      'v3_bill',
      (f: ReturnType<typeof fakes>) => createV3BillProvider(config, f.v3),
      ['bill R1', 'bill R2'],
      { outcomes: ['pending', 'pending'] },
    ],
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

// A transfer bill's life: WeChat's own state word goes with every result (the flow polls a bill
// waiting for its user less often, and fetches a package for it); a package comes only from a
// create, so a refresh creates the bill again with the very body first sent; a cancel is a request,
// never an outcome, whatever WeChat answers it.
describe('transfer bills', () => {
  function bills(view: Record<string, unknown>, cancelled: { ok: true; state: string } | { ok: false; code: string }) {
    const bodies: string[] = [];
    const v3 = {
      getBill: async (no: string) => ({
        ok: true,
        status: 200,
        data: { out_bill_no: no, transfer_bill_no: `WX${no}`, ...view },
      }),
      createBill: async (b: { out_bill_no: string }) => {
        bodies.push(JSON.stringify(b));
        return {
          ok: true,
          status: 200,
          data: {
            out_bill_no: b.out_bill_no,
            transfer_bill_no: `WX${b.out_bill_no}`,
            state: 'WAIT_USER_CONFIRM',
            package_info: 'pkg',
          },
        };
      },
      cancelBill: async (no: string) =>
        cancelled.ok
          ? { ok: true, status: 200, data: { out_bill_no: no, state: cancelled.state } }
          : { ok: false, status: 400, code: cancelled.code, message: 'refused', error: wechatError(cancelled.code) },
    } as unknown as V3Client;
    return { bodies, provider: createV3BillProvider(config, v3) };
  }

  it.each([
    ['ACCEPTED', { state: 'ACCEPTED' }, { outcome: 'pending', providerState: 'ACCEPTED' }],
    ['WAIT_USER_CONFIRM', { state: 'WAIT_USER_CONFIRM' }, { outcome: 'pending', providerState: 'WAIT_USER_CONFIRM' }],
    ['SUCCESS', { state: 'SUCCESS' }, { outcome: 'succeeded', providerState: 'SUCCESS' }],
    [
      'FAIL (closed unconfirmed)',
      { state: 'FAIL', fail_reason: 'TRANSFER_TIMEOUT' },
      { outcome: 'failed', providerState: 'FAIL', reason: 'TRANSFER_TIMEOUT' },
    ],
    ['CANCELLED', { state: 'CANCELLED' }, { outcome: 'failed', providerState: 'CANCELLED', reason: 'CANCELLED' }],
  ] as const)('a query of a bill in %s reports its state word', async (_name, view, expected) => {
    const answer = await bills(view, { ok: true, state: 'CANCELING' }).provider.query('B1', [items[0]!], params);
    expect(answer.ok && answer.results).toEqual([{ requestNo: 'R1', providerId: 'WXR1', ...expected }]);
  });

  it('refreshes a package by creating the bill again with the body first sent', async () => {
    const b = bills({ state: 'WAIT_USER_CONFIRM' }, { ok: true, state: 'CANCELING' });
    await b.provider.submit('B1', [items[0]!], params);
    const answer = await b.provider.refresh!('B1', [items[0]!], params);
    expect(b.bodies).toHaveLength(2);
    expect(b.bodies[1]).toBe(b.bodies[0]);
    expect(answer.ok && answer.results).toEqual([
      {
        requestNo: 'R1',
        outcome: 'pending',
        providerId: 'WXR1',
        providerState: 'WAIT_USER_CONFIRM',
        packageInfo: 'pkg',
      },
    ]);
  });

  it.each([
    [
      'accepted (CANCELING)',
      { ok: true, state: 'CANCELING' } as const,
      { requestNo: 'R1', outcome: 'pending', providerState: 'CANCELING' },
    ],
    [
      'refused: the user confirmed first',
      { ok: false, code: 'INVALID_REQUEST' } as const,
      { requestNo: 'R1', outcome: 'pending', reason: 'INVALID_REQUEST' },
    ],
    [
      'refused with a code that is final for a create',
      { ok: false, code: 'ACCOUNT_FROZEN' } as const,
      { requestNo: 'R1', outcome: 'pending', reason: 'ACCOUNT_FROZEN' },
    ],
  ])('a cancel %s is never an outcome', async (_name, cancelled, expected) => {
    expect(wechatError('ACCOUNT_FROZEN').final).toBe(true);
    expect(await bills({ state: 'WAIT_USER_CONFIRM' }, cancelled).provider.cancel!('R1')).toEqual(expected);
  });
});

describe('v2 transfers', () => {
  /** A v2 client that records each transfer's fields and answers `answers` in turn (then SUCCESS). */
  function v2(answers: ({ ok: true; fields: Record<string, string> } | { ok: false; code: string })[] = []) {
    const transfers: Record<string, unknown>[] = [];
    const queries = [...answers];
    const client = {
      transfer: async (t: Record<string, unknown>) => (transfers.push(t), { ok: true, fields: { payment_no: 'P1' } }),
      getTransferInfo: async () => {
        const a = queries.shift() ?? { ok: true, fields: { status: 'SUCCESS', detail_id: 'D1' } };
        return a.ok ? a : { ...a, message: '', error: wechatError(a.code), fields: {} };
      },
    } as unknown as V2Client;
    return { transfers, provider: createV2Provider(config, client) };
  }

  // The real name goes where WeChat's rule needs it: plain, with FORCE_CHECK (reference/wechatpay.md §2).
  it.each([
    [
      'a named transfer is checked against the name',
      { userName: '张三' },
      { check_name: 'FORCE_CHECK', re_user_name: '张三' },
    ],
    ['an unnamed one is not', {}, { check_name: 'NO_CHECK' }],
  ] as const)('%s', async (_name, named, fields) => {
    const { transfers, provider } = v2();
    await provider.submit('B1', [{ ...items[0]!, ...named }], params);
    expect(transfers[0]).toMatchObject(fields);
    if (!('userName' in named)) expect(transfers[0]).not.toHaveProperty('re_user_name');
  });

  it('keeps a transfer WeChat answers PROCESSING pending, then settles it', async () => {
    const { provider } = v2([{ ok: true, fields: { status: 'PROCESSING' } }]);
    const first = await provider.query('B1', [items[0]!], params);
    expect(first.ok && first.results).toEqual([{ requestNo: 'R1', outcome: 'pending' }]);
    const second = await provider.query('B1', [items[0]!], params);
    expect(second.ok && second.results).toEqual([{ requestNo: 'R1', outcome: 'succeeded', providerId: 'D1' }]);
  });

  // A code a person must look at (a key, a permission) stops the round: the batch goes to attention.
  it('answers a refusal that needs a person for the whole call, not as a pending transfer', async () => {
    const { provider } = v2([{ ok: false, code: 'NO_AUTH' }]);
    expect(await provider.query('B1', items, params)).toMatchObject({ ok: false, code: 'NO_AUTH' });
  });
});

// One bad transfer must not stop everyone's money: a refusal WeChat gave that transfer alone (signed,
// not the merchant's configuration) holds it for a person and the round goes on; a merchant-wide one,
// an unsigned one, or the same code on the first three of a round stops it (the batch goes to attention).
describe('a round of one call per transfer', () => {
  type Refusals = Record<string, { code: string; unsigned?: boolean }>;
  function products(refusals: Refusals) {
    const sent: string[] = [];
    const v3 = {
      createBill: async (b: { out_bill_no: string; openid: string }) => {
        sent.push(b.out_bill_no);
        const r = refusals[b.openid];
        if (r)
          return {
            ok: false,
            status: 400,
            code: r.code,
            message: 'bad',
            error: wechatError(r.code),
            ...(r.unsigned ? { unsigned: true as const } : {}),
          };
        return {
          ok: true,
          status: 200,
          data: {
            out_bill_no: b.out_bill_no,
            transfer_bill_no: `WX${b.out_bill_no}`,
            state: 'WAIT_USER_CONFIRM',
            package_info: 'pkg',
          },
        };
      },
    } as unknown as V3Client;
    const v2 = {
      transfer: async (t: { partner_trade_no: string; openid: string }) => {
        sent.push(t.partner_trade_no);
        const r = refusals[t.openid];
        if (r)
          return {
            ok: false,
            code: r.code,
            message: 'bad',
            error: wechatError(r.code),
            fields: { return_code: r.unsigned ? 'FAIL' : 'SUCCESS', result_code: 'FAIL', err_code: r.code },
          };
        return { ok: true, fields: { payment_no: `P${t.partner_trade_no}` } };
      },
    } as unknown as V2Client;
    return { sent, bill: createV3BillProvider(config, v3), v2: createV2Provider(config, v2) };
  }
  const four: Item[] = ['R1', 'R2', 'R3', 'R4'].map((no, i) => ({
    requestNo: no,
    amountFen: fen(100),
    openid: `o${i + 1}`,
  }));
  const held = (no: string, code: string) => ({ requestNo: no, outcome: 'held', reason: code, message: 'bad' });

  it.each([
    [
      'holds a PARAM_ERROR transfer alone and sends the rest',
      { o2: { code: 'PARAM_ERROR' } },
      ['R1', 'R2', 'R3', 'R4'],
      { held: [held('R2', 'PARAM_ERROR')] },
    ],
    [
      'holds an INVALID_REQUEST (number reused) transfer alone and sends the rest',
      { o3: { code: 'INVALID_REQUEST' } },
      ['R1', 'R2', 'R3', 'R4'],
      { held: [held('R3', 'INVALID_REQUEST')] },
    ],
    [
      'holds each of the first three when their codes differ',
      { o1: { code: 'PARAM_ERROR' }, o2: { code: 'FATAL_ERROR' }, o3: { code: 'PARAM_ERROR' } },
      ['R1', 'R2', 'R3', 'R4'],
      { held: [held('R1', 'PARAM_ERROR'), held('R2', 'FATAL_ERROR'), held('R3', 'PARAM_ERROR')] },
    ],
    ['stops at a merchant-wide refusal (NO_AUTH)', { o2: { code: 'NO_AUTH' } }, ['R1', 'R2'], { refused: 'NO_AUTH' }],
    [
      'stops at a merchant-wide refusal (SIGN_ERROR)',
      { o1: { code: 'SIGN_ERROR' } },
      ['R1'],
      { refused: 'SIGN_ERROR' },
    ],
    [
      'stops at an unsigned refusal, whatever its code',
      { o2: { code: 'PARAM_ERROR', unsigned: true } },
      ['R1', 'R2'],
      { refused: 'PARAM_ERROR' },
    ],
    [
      'stops when the first three are refused with the same code (configuration in disguise)',
      { o1: { code: 'PARAM_ERROR' }, o2: { code: 'PARAM_ERROR' }, o3: { code: 'PARAM_ERROR' } },
      ['R1', 'R2', 'R3'],
      { refused: 'PARAM_ERROR' },
    ],
  ] as const)('%s', async (_name, refusals, sent, expected) => {
    for (const api of ['bill', 'v2'] as const) {
      const p = products(refusals as Refusals);
      const answer = await p[api].submit('B1', four, params);
      expect(p.sent, api).toEqual(sent);
      if ('refused' in expected) {
        expect(answer, api).toMatchObject({ ok: false, code: expected.refused });
        expect(answer, api).not.toHaveProperty('alone');
        continue;
      }
      expect(answer.ok, api).toBe(true);
      const results = answer.ok ? answer.results : [];
      expect(
        results.filter((r) => r.outcome === 'held'),
        api,
      ).toEqual(expected.held);
      expect(
        results.filter((r) => r.outcome !== 'held').map((r) => r.requestNo),
        api,
      ).toEqual(four.map((i) => i.requestNo).filter((no) => !expected.held.some((h) => h.requestNo === no)));
    }
  });

  it('never holds a bill whose package refresh is refused: the bill exists, so the refusal is no outcome', async () => {
    const p = products({ o1: { code: 'PARAM_ERROR' } });
    expect(await p.bill.refresh!('B1', four.slice(0, 2), params)).toMatchObject({ ok: false, code: 'PARAM_ERROR' });
  });
});
