// The top-up routes with a fake flow and store: who may do what (an advertiser reaches only its own
// campaigns and orders, another's being 404), every 4xx decided before the flow is asked, and the
// status a create's outcome becomes.
import { describe, expect, it } from 'vitest';
import type { AuthResult, Principal } from '../../common/auth.js';
import type { ApiRequest } from '../../common/http-server.js';
import { fen } from '../../common/money.js';
import { createTopupRoutes } from './api.js';
import type { CreateOutcome, TopupFlow, TopupRequest } from './flow.js';
import type { Order } from './store-pg.js';

const order = (over: Partial<Order> = {}): Order => ({
  outTradeNo: 'a'.repeat(32),
  advertiserId: 'adv-1',
  campaignId: 'c-1',
  idempotencyKey: 'k',
  amountFen: fen(500),
  currency: 'CNY',
  api: 'v3',
  tradeType: 'NATIVE',
  payerOpenid: null,
  description: 'd',
  expiresAt: new Date('2031-03-01T12:00:00Z'),
  state: 'open',
  providerState: null,
  codeUrl: 'weixin://wxpay/bizpayurl?pr=abc',
  prepayId: null,
  transactionId: null,
  paidFen: null,
  paidAt: null,
  attentionReason: null,
  resolution: null,
  createdAt: new Date('2031-03-01T10:00:00Z'),
  ...over,
});
const operator: Principal = { kind: 'operator' };
const advertiser = (advertiserId: string) => ({ kind: 'advertiser', advertiserId }) as unknown as Principal;
const user: Principal = { kind: 'user', person: { appId: 'app', userId: 'u' } };

function world(outcome: CreateOutcome = { status: 'open', order: order() }, stored: Order[] = [order()]) {
  const asked: TopupRequest[] = [];
  const flow = {
    create: async (r: TopupRequest) => (asked.push(r), outcome),
    checkout: (o: Order) =>
      o.state === 'open' && o.codeUrl
        ? { codeUrl: o.codeUrl }
        : o.state === 'open' && o.prepayId
          ? { jsapi: { package: `prepay_id=${o.prepayId}` } }
          : {},
  } as unknown as TopupFlow;
  const store = {
    view: async (no: string) => {
      const o = stored.find((s) => s.outTradeNo === no);
      return o && { ...o, refunds: [{ out_refund_no: 'R1', amount_fen: 100, state: 'succeeded' }] };
    },
    list: async (f: { campaignId?: string; advertiserId?: string }) =>
      stored.filter(
        (o) =>
          (!f.campaignId || o.campaignId === f.campaignId) && (!f.advertiserId || o.advertiserId === f.advertiserId),
      ),
    campaignOwner: async (id: string) => (({ 'c-1': 'adv-1', 'c-2': 'adv-2' }) as Record<string, string>)[id],
  };
  const routes = createTopupRoutes({ minFen: fen(100), maxFen: fen(100_000) }, { flow, store });
  const call = (
    method: string,
    path: string,
    who: Principal | undefined,
    opts: { body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const [p, q = ''] = path.split('?');
    const req: ApiRequest = {
      method,
      path: p!,
      query: new URLSearchParams(q),
      body: Buffer.from(opts.body === undefined ? '' : JSON.stringify(opts.body)),
      headers: { 'content-type': 'application/json', 'idempotency-key': 'key-1', ...opts.headers },
    };
    const auth = (): AuthResult =>
      who ? { ok: true, principal: who } : { ok: false, error: 'missing_token', reason: 'no token' };
    return routes(req, auth);
  };
  return { call, asked };
}
const body = { campaign_id: 'c-1', amount_fen: 500, method: 'native' };

describe('creating a top-up', () => {
  it('answers 201 with the order and its code_url, for the advertiser the token names', async () => {
    const w = world();
    const res = await w.call('POST', '/v1/topups', advertiser('adv-1'), { body });
    expect(res).toMatchObject({
      status: 201,
      body: {
        out_trade_no: 'a'.repeat(32),
        state: 'open',
        amount_fen: 500,
        method: 'native',
        code_url: 'weixin://wxpay/bizpayurl?pr=abc',
        expires_at: '2031-03-01T12:00:00.000Z',
      },
    });
    expect(w.asked).toEqual([
      { campaignId: 'c-1', idempotencyKey: 'key-1', amountFen: fen(500), tradeType: 'NATIVE', advertiserId: 'adv-1' },
    ]);
  });

  it("lets the operator create for the campaign's advertiser, whoever it is", async () => {
    const w = world();
    expect(
      (await w.call('POST', '/v1/topups', operator, { body: { ...body, method: 'jsapi', openid: 'oPayer_1' } }))
        ?.status,
    ).toBe(201);
    expect(w.asked).toEqual([
      { campaignId: 'c-1', idempotencyKey: 'key-1', amountFen: fen(500), tradeType: 'JSAPI', payerOpenid: 'oPayer_1' },
    ]);
  });

  it.each([
    [
      'an order WeChat has not answered yet: 202, ask again',
      { status: 'pending', order: order({ state: 'created', codeUrl: null }) },
      202,
      { state: 'created', retry_after_ms: 2000 },
    ],
    ['a repeat: the same order', { status: 'exists', order: order() }, 201, { state: 'open' }],
    [
      'an order WeChat refused: 502',
      { status: 'refused', order: order({ state: 'closed', codeUrl: null }), code: 'PARAM_ERROR', message: 'bad' },
      502,
      { error: 'wechat_refused', code: 'PARAM_ERROR' },
    ],
    ['another body under the same key: 409', { status: 'conflict' }, 409, { error: 'idempotency_key_reused' }],
    ["a campaign not the advertiser's, or with none bound: 404", { status: 'not_found' }, 404, { error: 'not_found' }],
  ] as [string, CreateOutcome, number, Record<string, unknown>][])('%s', async (_name, outcome, status, answer) => {
    const res = await world(outcome).call('POST', '/v1/topups', advertiser('adv-1'), { body });
    expect(res).toMatchObject({ status, body: answer });
  });

  it.each([
    ['no token', undefined, body, {}, 401, 'missing_token'],
    ['a user token', user, body, {}, 403, 'forbidden'],
    ['no Idempotency-Key', operator, body, { 'idempotency-key': '' }, 400, 'missing_idempotency_key'],
    ['a body that is not JSON', operator, undefined, {}, 400, 'invalid_json'],
    ['another content type', operator, body, { 'content-type': 'text/plain' }, 415, 'unsupported_media_type'],
    ['no campaign', operator, { ...body, campaign_id: '' }, {}, 422, 'invalid_campaign_id'],
    ['an amount that is no integer', operator, { ...body, amount_fen: 5.5 }, {}, 422, 'invalid_amount'],
    ['an amount below the minimum', operator, { ...body, amount_fen: 99 }, {}, 422, 'amount_out_of_range'],
    ['a negative amount', operator, { ...body, amount_fen: -500 }, {}, 422, 'amount_out_of_range'],
    ['an amount above the maximum', operator, { ...body, amount_fen: 100_001 }, {}, 422, 'amount_out_of_range'],
    ['another method', operator, { ...body, method: 'h5' }, {}, 422, 'invalid_method'],
    ["JSAPI without the payer's openid", operator, { ...body, method: 'jsapi' }, {}, 422, 'invalid_openid'],
    ['Native with an openid', operator, { ...body, openid: 'o1' }, {}, 422, 'invalid_openid'],
  ] as [string, Principal | undefined, unknown, Record<string, string>, number, string][])(
    'refuses %s before asking the flow',
    async (_name, who, b, headers, status, error) => {
      const w = world();
      expect(await w.call('POST', '/v1/topups', who, { body: b, headers })).toMatchObject({ status, body: { error } });
      expect(w.asked).toEqual([]);
    },
  );
});

describe('reading top-ups', () => {
  const mine = order();
  const theirs = order({ outTradeNo: 'b'.repeat(32), advertiserId: 'adv-2', campaignId: 'c-2' });
  const jsapi = order({ outTradeNo: 'c'.repeat(32), tradeType: 'JSAPI', codeUrl: null, prepayId: 'wx_prepay' });

  it("shows an advertiser its own order with its refunds, and another's as not found", async () => {
    const w = world(undefined, [mine, theirs]);
    expect(await w.call('GET', `/v1/topups/${mine.outTradeNo}`, advertiser('adv-1'))).toMatchObject({
      status: 200,
      body: { out_trade_no: mine.outTradeNo, code_url: mine.codeUrl, refunds: [{ out_refund_no: 'R1' }] },
    });
    expect(await w.call('GET', `/v1/topups/${theirs.outTradeNo}`, advertiser('adv-1'))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect((await w.call('GET', `/v1/topups/${theirs.outTradeNo}`, operator))?.status).toBe(200);
    expect(await w.call('GET', '/v1/topups/not-a-number!', operator)).toMatchObject({
      status: 400,
      body: { error: 'invalid_out_trade_no' },
    });
  });

  it("shows a paid order's amounts as JSON numbers of fen", async () => {
    const paid = order({ state: 'paid', codeUrl: null, paidFen: fen(500), paidAt: new Date('2031-03-01T11:00:00Z') });
    const res = await world(undefined, [paid]).call('GET', `/v1/topups/${paid.outTradeNo}`, operator);
    expect(JSON.parse(JSON.stringify(res?.body))).toMatchObject({
      amount_fen: 500,
      paid_fen: 500,
      refunds: [{ amount_fen: 100 }],
    });
  });

  it("gives an open JSAPI order's parameters for wx.requestPayment", async () => {
    expect(await world(undefined, [jsapi]).call('GET', `/v1/topups/${jsapi.outTradeNo}`, operator)).toMatchObject({
      status: 200,
      body: { jsapi: { package: 'prepay_id=wx_prepay' } },
    });
  });

  it("draws an open Native order's QR code as SVG, and none for another order", async () => {
    const w = world(undefined, [mine, jsapi, theirs]);
    const res = await w.call('GET', `/v1/topups/${mine.outTradeNo}/qr.svg`, advertiser('adv-1'));
    expect(res).toMatchObject({ status: 200, headers: { 'content-type': 'image/svg+xml' } });
    expect(res?.body).toMatch(/^<svg [^>]*>.*<\/svg>\s*$/s);
    expect(await w.call('GET', `/v1/topups/${jsapi.outTradeNo}/qr.svg`, advertiser('adv-1'))).toMatchObject({
      status: 409,
      body: { error: 'no_qr_code' },
    });
    expect((await w.call('GET', `/v1/topups/${theirs.outTradeNo}/qr.svg`, advertiser('adv-1')))?.status).toBe(404);
  });

  it("lists a campaign's top-ups for its advertiser only", async () => {
    const w = world(undefined, [mine, theirs]);
    expect(await w.call('GET', '/v1/topups?campaign_id=c-1', advertiser('adv-1'))).toMatchObject({
      status: 200,
      body: { topups: [{ out_trade_no: mine.outTradeNo }] },
    });
    expect(await w.call('GET', '/v1/topups?campaign_id=c-2', advertiser('adv-1'))).toMatchObject({ status: 404 });
    expect(await w.call('GET', '/v1/topups?campaign_id=c-nope', operator)).toMatchObject({ status: 404 });
    expect((await w.call('GET', '/v1/topups', advertiser('adv-2')))?.body).toMatchObject({
      topups: [{ out_trade_no: theirs.outTradeNo }],
    });
    expect(((await w.call('GET', '/v1/topups', operator))?.body as { topups: unknown[] }).topups).toHaveLength(2);
  });

  it('leaves other paths to the payouts routes, and answers other methods 405', async () => {
    const w = world();
    expect(await w.call('GET', '/v1/payouts/x', operator)).toBeUndefined();
    expect(await w.call('DELETE', '/v1/topups', operator)).toMatchObject({
      status: 405,
      headers: { allow: 'GET, POST' },
    });
  });
});
