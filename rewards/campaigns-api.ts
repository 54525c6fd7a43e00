// The advertiser's side of the rewards API: a campaign's money, and refunds of what an ended campaign
// did not spend. An advertiser token reaches only its own campaigns (another's is 404, as a missing
// one); the operator reaches all; a user token none.
import type { Principal } from '../common/auth.js';
import { isUuid } from '../common/name-uuid.js';
import { apiError as error, type ApiRequest, type ApiResponse } from '../common/http-server.js';
import { unstorable } from '../common/storable-text.js';
import { fen } from '../common/money.js';
import { idempotencyKeyOf, isResponse, jsonBody } from './api-input.js';
import type { Campaigns } from './campaigns-pg.js';
import type { Funding, RefundRequestResult } from './funding-pg.js';

const MAX_REASON = 200;

const refusals: Record<Exclude<RefundRequestResult['status'], 'created' | 'exists'>, ApiResponse> = {
  not_found: error(404, 'not_found', 'no such campaign of this advertiser'),
  campaign_not_ended: error(
    409,
    'campaign_not_ended',
    "a campaign's budget is refunded once it has ended (npm run rewards -- end)",
  ),
  nothing_to_refund: error(
    409,
    'nothing_to_refund',
    'the budget holds nothing that top-ups paid in and no refund took yet',
  ),
  exceeds_refundable: error(
    422,
    'exceeds_refundable',
    'the amount exceeds the budget or what its credited top-ups still carry (GET the campaign: refundable_fen)',
  ),
  idempotency_key_reused: error(409, 'idempotency_key_reused', 'this Idempotency-Key was used for a different refund'),
};

const isCampaignId = (s: string) => s.length >= 1 && s.length <= 64 && !s.includes('/') && unstorable(s) === undefined;
const min = (a: bigint, b: bigint) => (a < b ? a : b);

export function createCampaignRoutes(deps: {
  funding: Pick<Funding, 'requestRefund'>;
  campaigns: Campaigns;
  onRefund(refundId: string): Promise<void>;
}) {
  const routes: {
    method: string;
    pattern: RegExp;
    run(ids: string[], who: { advertiserId?: string }, req: ApiRequest): Promise<ApiResponse>;
  }[] = [
    {
      method: 'GET',
      pattern: /^\/v1\/campaigns\/([^/]+)$/,
      async run([campaignId], who) {
        const c = await deps.campaigns.campaign(campaignId!);
        if (!c || (who.advertiserId !== undefined && c.advertiserId !== who.advertiserId)) return refusals.not_found;
        const m = c.money;
        return {
          status: 200,
          body: {
            campaign_id: c.campaignId,
            advertiser_id: c.advertiserId,
            ends_at: c.endsAt?.toISOString() ?? null,
            budget_fen: Number(m.budgetFen),
            funded_fen: Number(m.fundedFen),
            refunded_fen: Number(m.refundedFen),
            refunding_fen: Number(m.heldFen - m.refundedFen - m.releasedFen),
            refundable_fen: Number(m.refundableFen > 0n ? min(m.budgetFen, m.refundableFen) : 0n),
          },
        };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/campaigns\/([^/]+)\/refunds$/,
      async run([campaignId], who, req) {
        const key = idempotencyKeyOf(req);
        if (isResponse(key)) return key;
        const body = req.body.length === 0 ? {} : jsonBody(req);
        if (isResponse(body)) return body;
        const { amount_fen: amount, reason = '' } = body;
        if (amount !== undefined && (!Number.isSafeInteger(amount) || (amount as number) <= 0))
          return error(400, 'invalid_amount', 'amount_fen must be a positive integer number of fen');
        if (typeof reason !== 'string' || [...reason].length > MAX_REASON)
          return error(400, 'invalid_reason', `reason must be a string of at most ${MAX_REASON} characters`);
        const result = await deps.funding.requestRefund({
          campaignId: campaignId!,
          reason,
          idempotencyKey: key,
          ...(who.advertiserId !== undefined ? { advertiserId: who.advertiserId } : {}),
          ...(amount !== undefined ? { amountFen: fen(amount as number) } : {}),
        });
        if (result.status !== 'created' && result.status !== 'exists') return refusals[result.status];
        if (result.status === 'created') await deps.onRefund(result.refund.refundId);
        const r = result.refund;
        return {
          status: 201,
          body: { refund_id: r.refundId, campaign_id: r.campaignId, amount_fen: Number(r.amountFen), state: r.state },
          headers: result.status === 'exists' ? { 'idempotent-replayed': 'true' } : {},
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/campaigns\/([^/]+)\/refunds\/([^/]+)$/,
      async run([campaignId, refundId], who) {
        if (!isUuid(refundId!)) return error(404, 'not_found', 'no such refund');
        const r = await deps.campaigns.refund(campaignId!, refundId!.toLowerCase());
        if (!r || (who.advertiserId !== undefined && r.advertiserId !== who.advertiserId))
          return error(404, 'not_found', 'no such refund');
        return {
          status: 200,
          body: {
            refund_id: r.refundId,
            campaign_id: r.campaignId,
            amount_fen: r.amountFen,
            currency: r.currency,
            reason: r.reason,
            state: r.state,
            settled_fen: r.settledFen,
            released_fen: r.releasedFen,
            parts: r.parts,
            created_at: r.createdAt.toISOString(),
            updated_at: r.updatedAt.toISOString(),
          },
        };
      },
    },
  ];

  /** Answers a /v1/campaigns/… request, or undefined when the path is none of these routes. */
  return async function handle(
    req: ApiRequest,
    authenticate: () => { ok: true; principal: Principal } | ApiResponse,
  ): Promise<ApiResponse | undefined> {
    const matches = routes.filter((r) => r.pattern.test(req.path));
    if (matches.length === 0) return undefined;
    const route = matches.find((r) => r.method === req.method);
    if (!route)
      return {
        ...error(405, 'method_not_allowed', `use ${matches.map((r) => r.method).join(', ')}`),
        headers: { allow: matches.map((r) => r.method).join(', ') },
      };
    let ids: string[];
    try {
      ids = route.pattern
        .exec(req.path)!
        .slice(1)
        .map((s) => decodeURIComponent(s));
    } catch {
      return error(400, 'invalid_campaign_id', 'the path is not valid percent-encoding');
    }
    if (!isCampaignId(ids[0]!))
      return error(
        400,
        'invalid_campaign_id',
        'campaign ids are 1..64 characters, without "/", NUL or lone surrogates',
      );
    const auth = authenticate();
    if (isResponse(auth)) return auth;
    const p = auth.principal;
    if (p.kind === 'user') return error(403, 'forbidden', 'campaigns take an advertiser token or the operator token');
    return route.run(ids, p.kind === 'advertiser' ? { advertiserId: p.advertiserId } : {}, req);
  };
}
