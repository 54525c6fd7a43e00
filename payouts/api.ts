// The payouts service's HTTP API (CONTRACTS.md §3): a payout's state and history, and WeChat Pay's
// callbacks. A callback is verified (and decrypted) here and answered at once; the work it asks for
// (querying the batch it names) is queued, keyed by the notification id (v3) or the reference (v2,
// whose repeats differ only in their nonce) so duplicates do it once.
import { authenticate } from '../common/auth.js';
import { apiError, type ApiRequest, type ApiResponse } from '../common/http-server.js';
import type { FlowQueues } from './flow.js';
import type { PayoutsStore } from './store-pg.js';
import { parseV2Xml, toV2Xml, verifyV2, type V2SignType } from './wechat/v2-protocol.js';
import type { V3Client } from './wechat/v3-client.js';
import { isUuid } from '../common/name-uuid.js';
import { personKey } from '../common/person.js';

const xmlReply = (code: 'SUCCESS' | 'FAIL', msg: string): ApiResponse =>
  ({ status: 200, body: toV2Xml({ return_code: code, return_msg: msg }), headers: { 'content-type': 'text/xml; charset=utf-8' } });

export function createPayoutsApi(
  config: { platformTokenSecret: string; operatorToken: string; tokenMaxTtlS: number; apiV2Key: string; v2SignType: V2SignType },
  deps: {
    store: PayoutsStore; v3: V3Client; queues: Pick<FlowQueues, 'poll'>; callback(result: string): void; now(): number;
    /** The live user-token secrets of an app (token-secrets-pg.ts). */
    appSecrets(appId: string): readonly string[];
  },
) {
  /** Queues a query of the batch that carries `requestNo` (or is `batchNo`), rechecking that transfer. */
  async function recheck(id: string, ref: { batchNo?: string; requestNo?: string }) {
    const batchNo = ref.batchNo ?? (ref.requestNo ? await deps.store.batchOf(ref.requestNo) : undefined);
    if (batchNo) await deps.queues.poll(batchNo, { id, ...(ref.requestNo ? { recheck: [ref.requestNo] } : {}) });
    return batchNo !== undefined;
  }

  return async function handle(req: ApiRequest): Promise<ApiResponse> {
    if (req.method === 'POST' && req.path === '/v1/wechat/notify') {
      const read = deps.v3.readNotification(req.headers, req.body.toString('utf8'));
      if ('error' in read) {
        deps.callback('rejected');
        return { status: 401, body: { code: 'SIGN_ERROR', message: `callback refused: ${read.error}` } };
      }
      const r = read.resource;
      const known = await recheck(`notify-${read.notification.id}`, { batchNo: typeof r.out_batch_no === 'string' ? r.out_batch_no : undefined, requestNo: typeof r.out_bill_no === 'string' ? r.out_bill_no : undefined });
      deps.callback(known ? 'accepted' : 'unknown_reference');
      return { status: 204, body: '' };
    }
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
      const auth = authenticate(req.headers.authorization, {
        platformSecret: config.platformTokenSecret, appSecrets: deps.appSecrets, operatorToken: config.operatorToken, maxTtlS: config.tokenMaxTtlS, nowMs: deps.now(),
      });
      if (!auth.ok) return apiError(401, auth.error, auth.reason);
      const payout = await deps.store.view(route[1]!);
      // Another person's payout (another user, or the same user id in another app) is answered like a
      // missing one: its existence is not theirs to know.
      if (!payout || (auth.principal.kind === 'user' && personKey(auth.principal.person) !== payout.person)) return apiError(404, 'not_found', 'no such payout');
      return { status: 200, body: payout.body };
    }
    return apiError(404, 'not_found', `no route ${req.method} ${req.path}`);
  };
}
