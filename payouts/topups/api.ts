// The top-up routes of the payouts API (README "Top-ups and refunds"): an advertiser (or the operator)
// creates a top-up of a campaign, reads it with its refunds, its QR code, or a campaign's list. An
// advertiser token reaches only its own campaigns and orders: another's is 404, like a missing one.
import type { AuthResult, Principal } from '../../common/auth.js';
import { apiError, type ApiRequest, type ApiResponse } from '../../common/http-server.js';
import { fen, type Fen } from '../../common/money.js';
import { unstorable } from '../../common/storable-text.js';
import type { CreateOutcome, TopupFlow } from './flow.js';
import { qrSvg } from './qr.js';
import type { Order, TopupStore } from './store-pg.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;
const OUT_TRADE_NO = /^[A-Za-z0-9]{6,32}$/;
const OPENID = /^[A-Za-z0-9_-]{1,128}$/;
const LIST_LIMIT = 100;
/** When a client may ask again about an order WeChat has not answered for yet (the sweep also sends it again). */
const RETRY_AFTER_MS = 2_000;

const isCampaignId = (s: unknown): s is string =>
  typeof s === 'string' && s.length >= 1 && s.length <= 64 && unstorable(s) === undefined;
const isResponse = (x: unknown): x is ApiResponse =>
  typeof x === 'object' && x !== null && 'status' in x && 'body' in x;

/** The body as a JSON object in strict UTF-8. */
function jsonBody(req: ApiRequest): Record<string, unknown> | ApiResponse {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    return apiError(415, 'unsupported_media_type', 'send application/json');
  try {
    const body: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(req.body));
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // answered below
  }
  return apiError(400, 'invalid_json', 'the body must be a JSON object in UTF-8');
}

/** An order as the API shows it (amounts as JSON numbers); `checkout` (code_url or jsapi) only while it can be paid. */
export function orderBody(o: Order, checkout: { codeUrl?: string; jsapi?: unknown }): Record<string, unknown> {
  const body: Record<string, unknown> = {
    out_trade_no: o.outTradeNo,
    campaign_id: o.campaignId,
    advertiser_id: o.advertiserId,
    amount_fen: Number(o.amountFen),
    currency: o.currency,
    method: o.tradeType === 'NATIVE' ? 'native' : 'jsapi',
    state: o.state,
    provider_state: o.providerState,
    expires_at: o.expiresAt.toISOString(),
    created_at: o.createdAt.toISOString(),
    transaction_id: o.transactionId,
    paid_fen: o.paidFen === null ? null : Number(o.paidFen),
    paid_at: o.paidAt?.toISOString() ?? null,
    attention_reason: o.attentionReason,
    resolution: o.resolution,
  };
  if (checkout.codeUrl) body.code_url = checkout.codeUrl;
  if (checkout.jsapi) body.jsapi = checkout.jsapi;
  return body;
}

export function createTopupRoutes(
  config: { minFen: Fen; maxFen: Fen },
  deps: { flow: TopupFlow; store: Pick<TopupStore, 'view' | 'list' | 'campaignOwner'> },
) {
  const { flow, store } = deps;

  /** Whose orders the caller may touch: every advertiser's (the operator: undefined), or one's; a user token none. */
  function caller(req: ApiRequest, auth: (req: ApiRequest) => AuthResult): { advertiserId?: string } | ApiResponse {
    const who = auth(req);
    if (!who.ok) return apiError(401, who.error, who.reason);
    const p: Principal = who.principal;
    if (p.kind === 'operator') return {};
    if (p.kind === 'advertiser') return { advertiserId: p.advertiserId };
    return apiError(403, 'forbidden', 'top-ups take an advertiser token or the operator token');
  }

  /** Order `no` if the caller may see it; another advertiser's is not found, as a missing one is. */
  async function visible(no: string, who: { advertiserId?: string }) {
    if (!OUT_TRADE_NO.test(no))
      return apiError(400, 'invalid_out_trade_no', 'an out_trade_no is 6..32 letters and digits');
    const order = await store.view(no);
    if (!order || (who.advertiserId !== undefined && order.advertiserId !== who.advertiserId))
      return apiError(404, 'not_found', 'no such top-up');
    return order;
  }

  function created(r: Exclude<CreateOutcome, { status: 'not_found' | 'conflict' }>): ApiResponse {
    const body = orderBody(r.order, flow.checkout(r.order));
    if (r.status === 'refused')
      return {
        status: 502,
        body: {
          error: 'wechat_refused',
          message: `WeChat refused the order: ${r.code} ${r.message}`,
          code: r.code,
          order: body,
        },
      };
    if (r.order.state === 'created')
      return {
        status: 202,
        body: { ...body, retry_after_ms: RETRY_AFTER_MS },
        headers: { 'retry-after': String(Math.ceil(RETRY_AFTER_MS / 1000)) },
      };
    return { status: 201, body, headers: r.status === 'exists' ? { 'idempotent-replayed': 'true' } : {} };
  }

  async function create(req: ApiRequest, who: { advertiserId?: string }): Promise<ApiResponse> {
    const key = req.headers['idempotency-key'];
    if (!key)
      return apiError(
        400,
        'missing_idempotency_key',
        'send an Idempotency-Key header of 1..128 visible ASCII characters',
      );
    if (!IDEMPOTENCY_KEY.test(key))
      return apiError(400, 'invalid_idempotency_key', 'an Idempotency-Key is 1..128 visible ASCII characters');
    const body = jsonBody(req);
    if (isResponse(body)) return body;
    const { campaign_id: campaignId, amount_fen: amountFen, method, openid } = body;
    if (!isCampaignId(campaignId))
      return apiError(422, 'invalid_campaign_id', 'campaign_id is a string of 1..64 characters');
    if (!Number.isSafeInteger(amountFen))
      return apiError(422, 'invalid_amount', 'amount_fen is an integer number of fen');
    if ((amountFen as number) < config.minFen || (amountFen as number) > config.maxFen)
      return apiError(422, 'amount_out_of_range', `amount_fen is ${config.minFen}..${config.maxFen}`);
    if (method !== 'native' && method !== 'jsapi')
      return apiError(
        422,
        'invalid_method',
        'method is native (a QR code) or jsapi (a mini program or the WeChat browser)',
      );
    if (method === 'jsapi' && !(typeof openid === 'string' && OPENID.test(openid)))
      return apiError(422, 'invalid_openid', "method jsapi needs the payer's openid under the merchant's appid");
    if (method === 'native' && openid !== undefined)
      return apiError(422, 'invalid_openid', 'openid is for method jsapi only');
    const r = await flow.create({
      campaignId,
      idempotencyKey: key,
      amountFen: fen(amountFen as number),
      tradeType: method === 'native' ? 'NATIVE' : 'JSAPI',
      ...(who.advertiserId !== undefined ? { advertiserId: who.advertiserId } : {}),
      ...(method === 'jsapi' ? { payerOpenid: openid as string } : {}),
    });
    if (r.status === 'not_found')
      return apiError(404, 'not_found', 'no such campaign of this advertiser (or it has no advertiser bound)');
    if (r.status === 'conflict')
      return apiError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for a different top-up');
    return created(r);
  }

  async function list(req: ApiRequest, who: { advertiserId?: string }): Promise<ApiResponse> {
    const campaignId = req.query.get('campaign_id') ?? undefined;
    if (campaignId !== undefined) {
      if (!isCampaignId(campaignId))
        return apiError(400, 'invalid_campaign_id', 'campaign_id is a string of 1..64 characters');
      const owner = await store.campaignOwner(campaignId);
      if (owner === undefined || (who.advertiserId !== undefined && owner !== who.advertiserId))
        return apiError(404, 'not_found', 'no such campaign (or it has no advertiser bound)');
    }
    const orders = await store.list({ campaignId, advertiserId: who.advertiserId }, LIST_LIMIT);
    return { status: 200, body: { topups: orders.map((o) => orderBody(o, flow.checkout(o))) } };
  }

  /** Answers a /v1/topups request (the caller known by `auth`), or undefined when the path is not one of these routes. */
  return async function handle(
    req: ApiRequest,
    auth: (req: ApiRequest) => AuthResult,
  ): Promise<ApiResponse | undefined> {
    const one = /^\/v1\/topups\/([^/]+)(\/qr\.svg)?$/.exec(req.path);
    if (req.path !== '/v1/topups' && !one) return undefined;
    const allowed = req.path === '/v1/topups' ? ['GET', 'POST'] : ['GET'];
    if (!allowed.includes(req.method))
      return {
        ...apiError(405, 'method_not_allowed', `use ${allowed.join(', ')}`),
        headers: { allow: allowed.join(', ') },
      };
    const who = caller(req, auth);
    if (isResponse(who)) return who;
    if (!one) return req.method === 'POST' ? create(req, who) : list(req, who);
    const order = await visible(one[1]!, who);
    if (isResponse(order)) return order;
    const checkout = flow.checkout(order);
    if (!one[2]) return { status: 200, body: { ...orderBody(order, checkout), refunds: order.refunds } };
    if (!checkout.codeUrl)
      return apiError(
        409,
        'no_qr_code',
        `only an open Native order has a QR code; this one is ${order.tradeType === 'NATIVE' ? order.state : 'JSAPI'}`,
      );
    return {
      status: 200,
      body: await qrSvg(checkout.codeUrl),
      headers: { 'content-type': 'image/svg+xml', 'cache-control': 'no-store' },
    };
  };
}
