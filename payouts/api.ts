// The payouts service's HTTP API (CONTRACTS.md §3): a payout's state and history, the transfer bills
// waiting for their user's confirmation (what the app's confirm page needs), and WeChat Pay's
// callbacks. A callback is verified (and decrypted) here and answered at once; the work it asks for
// (querying the batch it names) is queued, keyed by the notification id (v3) or the reference (v2,
// whose repeats differ only in their nonce) so duplicates do it once. Top-ups (/v1/topups*) and their
// notifications (TRANSACTION.*, REFUND.*, v2 pay and refund) are topups/api.ts' and topups/notify.ts'.
import { authenticate, isUserId, requestedPerson, type Principal, type RequestedPerson } from '../common/auth.js';
import { apiError, type ApiRequest, type ApiResponse } from '../common/http-server.js';
import { createAuthorizationRoutes } from './authorizations.js';
import type { FlowQueues } from './flow.js';
import type { PayoutsStore } from './store-pg.js';
import type { TopupNotifications } from './topups/notify.js';
import { parseV2Xml, toV2Xml, verifyV2, type V2SignType } from './wechat/v2-protocol.js';
import type { V3Client } from './wechat/v3-client.js';
import { isUuid } from '../common/name-uuid.js';
import { personKey } from '../common/person.js';

/** When the app may ask again for a bill listed without a package (one is being fetched). */
const RETRY_AFTER_MS = 2_000;
/** WeChat closes a bill nobody confirmed about 24 h after its creation [U]. */
const BILL_CLOSE_MS = 86_400_000;

/**
 * Whose bills GET /v1/payouts?awaiting=confirmation lists: a user token's own person (a `user_id` or
 * `App-Id` naming anyone else is refused); the operator names both, `user_id` and `App-Id`.
 */
function claimant(
  principal: Principal,
  userIdParam: string | undefined,
  appIdHeader: string | undefined,
): RequestedPerson | { ok: false; status: 400; error: 'missing_user_id' | 'invalid_user_id'; reason: string } {
  if (principal.kind === 'user' && userIdParam !== undefined && userIdParam !== principal.person.userId)
    return { ok: false, status: 403, error: 'forbidden', reason: 'a user token lists its own payouts only' };
  const userId = userIdParam ?? (principal.kind === 'user' ? principal.person.userId : undefined);
  if (userId === undefined)
    return { ok: false, status: 400, error: 'missing_user_id', reason: 'the operator names the user in ?user_id=' };
  if (!isUserId(userId))
    return {
      ok: false,
      status: 400,
      error: 'invalid_user_id',
      reason: 'user_id is 1..64 characters, no "/", NUL or lone surrogate',
    };
  return requestedPerson(principal, userId, appIdHeader);
}

const xmlReply = (code: 'SUCCESS' | 'FAIL', msg: string): ApiResponse => ({
  status: 200,
  body: toV2Xml({ return_code: code, return_msg: msg }),
  headers: { 'content-type': 'text/xml; charset=utf-8' },
});

export function createPayoutsApi(
  config: {
    platformTokenSecret: string;
    operatorToken: string;
    tokenMaxTtlS: number;
    apiV2Key: string;
    v2SignType: V2SignType;
    /** The merchant id and the appid the openids belong to, for wx.requestMerchantTransfer. */
    mchId: string;
    appId: string;
  },
  deps: {
    store: PayoutsStore;
    v3: V3Client;
    queues: Pick<FlowQueues, 'poll'>;
    callback(result: string): void;
    now(): number;
    /** The live user-token secrets of an app (token-secrets-pg.ts). */
    appSecrets(appId: string): readonly string[];
    /** Top-ups: their routes (undefined: not a top-up path), and their notifications. */
    topups?: {
      routes(
        req: ApiRequest,
        auth: (req: ApiRequest) => ReturnType<typeof authenticate>,
      ): Promise<ApiResponse | undefined>;
      notify: TopupNotifications;
    };
  },
) {
  /** Queues a query of the batch that carries `requestNo` (or is `batchNo`), rechecking that transfer. */
  async function recheck(id: string, ref: { batchNo?: string; requestNo?: string }) {
    const batchNo = ref.batchNo ?? (ref.requestNo ? await deps.store.batchOf(ref.requestNo) : undefined);
    if (batchNo) await deps.queues.poll(batchNo, { id, ...(ref.requestNo ? { recheck: [ref.requestNo] } : {}) });
    return batchNo !== undefined;
  }

  const auth = (req: ApiRequest) =>
    authenticate(req.headers.authorization, {
      platformSecret: config.platformTokenSecret,
      appSecrets: deps.appSecrets,
      operatorToken: config.operatorToken,
      maxTtlS: config.tokenMaxTtlS,
      nowMs: deps.now(),
    });

  /**
   * The person's bills waiting for confirmation, each with what wx.requestMerchantTransfer takes. A
   * bill whose package is missing or stale is listed with `package: null` and `retry_after_ms`, and a
   * query of it is queued (which creates it again for a fresh package); at most one per bill each
   * RETRY_AFTER_MS, however often the app asks.
   */
  async function awaitingConfirmation(req: ApiRequest): Promise<ApiResponse> {
    const who = auth(req);
    if (!who.ok) return apiError(401, who.error, who.reason);
    if (req.query.get('awaiting') !== 'confirmation')
      return apiError(400, 'invalid_query', 'GET /v1/payouts lists ?awaiting=confirmation only');
    const person = claimant(who.principal, req.query.get('user_id') ?? undefined, req.headers['app-id']);
    if (!person.ok) return apiError(person.status, person.error, person.reason);
    const nowMs = deps.now();
    const payouts = [];
    for (const c of await deps.store.claimable(personKey(person.person))) {
      if (!c.packageInfo)
        await deps.queues.poll(c.batchNo, {
          id: `package-${c.requestNo}-${Math.floor(nowMs / RETRY_AFTER_MS)}`,
          only: [c.requestNo],
        });
      payouts.push({
        payout_id: c.payoutId,
        amount_fen: Number(c.amountFen),
        mchId: config.mchId,
        appId: config.appId,
        package: c.packageInfo,
        openId: c.openid,
        expires_at: new Date(c.formedAt.getTime() + BILL_CLOSE_MS).toISOString(),
        ...(c.packageInfo ? {} : { retry_after_ms: RETRY_AFTER_MS }),
      });
    }
    return { status: 200, body: { payouts } };
  }

  const authorizations = createAuthorizationRoutes(config, { store: deps.store.authorizations, v3: deps.v3 });

  return async function handle(req: ApiRequest): Promise<ApiResponse> {
    if (req.method === 'GET' && req.path === '/v1/payouts') return awaitingConfirmation(req);
    const topup = await deps.topups?.routes(req, auth);
    if (topup) return topup;
    // The no-confirmation authorization (authorizations.ts): a user asks for, and reads, their own.
    if ((req.method === 'POST' || req.method === 'GET') && req.path === '/v1/payouts/authorization') {
      const who = auth(req);
      if (!who.ok) return apiError(401, who.error, who.reason);
      if (who.principal.kind !== 'user')
        return apiError(403, 'forbidden', 'a user token authorizes for its own person');
      const person = personKey(who.principal.person);
      return req.method === 'POST' ? authorizations.request(person) : authorizations.show(person);
    }
    if (req.method === 'POST' && req.path === '/v1/wechat/notify') {
      const read = deps.v3.readNotification(req.headers, req.body.toString('utf8'));
      if ('error' in read) {
        deps.callback('rejected');
        return { status: 401, body: { code: 'SIGN_ERROR', message: `callback refused: ${read.error}` } };
      }
      const r = read.resource;
      const payIn = await deps.topups?.notify.v3(read.notification.event_type, r);
      if (payIn) return payIn;
      const known = await recheck(`notify-${read.notification.id}`, {
        batchNo: typeof r.out_batch_no === 'string' ? r.out_batch_no : undefined,
        requestNo: typeof r.out_bill_no === 'string' ? r.out_bill_no : undefined,
      });
      deps.callback(known ? 'accepted' : 'unknown_reference');
      return { status: 204, body: '' };
    }
    if (deps.topups && req.method === 'POST' && req.path === '/v1/wechat/notify/v2/pay')
      return deps.topups.notify.v2Pay(req.body.toString('utf8'));
    if (deps.topups && req.method === 'POST' && req.path === '/v1/wechat/notify/v2/refund')
      return deps.topups.notify.v2Refund(req.body.toString('utf8'));
    if (req.method === 'POST' && req.path === '/v1/wechat/notify/v2') {
      const fields = parseV2Xml(req.body.toString('utf8'));
      // Verified with the configured algorithm only: a message does not get to pick a weaker one.
      if (!fields || !verifyV2(fields, config.apiV2Key, config.v2SignType)) {
        deps.callback('rejected');
        return xmlReply('FAIL', 'sign or XML invalid');
      }
      const ref = fields.partner_trade_no ?? fields.out_trade_no;
      // Keyed by the reference alone: repeats (a new nonce each) queue one query, not one each.
      const known = ref ? await recheck(`notify-v2-${ref}`, { requestNo: ref }) : false;
      deps.callback(known ? 'accepted' : 'unknown_reference');
      return xmlReply('SUCCESS', 'OK');
    }
    const route = /^\/v1\/payouts\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && route) {
      // Checked before anything reads it: a NUL or any other non-UUID is bad input (400), not a fault.
      if (!isUuid(route[1]!)) return apiError(400, 'invalid_payout_id', 'a payout id is a UUID');
      const who = auth(req);
      if (!who.ok) return apiError(401, who.error, who.reason);
      if (who.principal.kind === 'advertiser')
        return apiError(403, 'forbidden', 'an advertiser token reads top-ups and campaigns, not payouts');
      const payout = await deps.store.view(route[1]!);
      // Another person's payout (another user, or the same user id in another app) is answered like a
      // missing one: its existence is not theirs to know.
      if (!payout || (who.principal.kind === 'user' && personKey(who.principal.person) !== payout.person))
        return apiError(404, 'not_found', 'no such payout');
      return { status: 200, body: payout.body };
    }
    return apiError(404, 'not_found', `no route ${req.method} ${req.path}`);
  };
}
