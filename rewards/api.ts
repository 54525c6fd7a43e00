// The user-facing HTTP API (CONTRACTS.md §3): balance, ledger history, WeChat linking, the real
// name for it, and withdrawals; advertisers' campaign routes are campaigns-api.ts. Routing and every 4xx decision live here, independent of the HTTP server (common/http-server.ts).
// Input is checked at this edge, so what no query can take (a NUL, a number past int8) is a 400, never a 503.
// A path names a user; the person (app, user) takes the app from the user token, or from App-Id for the operator.
import { authenticate, isUserId, mayActFor, requestedPerson } from '../common/auth.js';
import { personKey, type Person } from '../common/person.js';
import { apiError as error, type ApiRequest, type ApiResponse } from '../common/http-server.js';
import { fen, type Fen } from '../common/money.js';
import { idempotencyKeyOf, isResponse, jsonBody } from './api-input.js';
import { createCampaignRoutes } from './campaigns-api.js';
import type { Campaigns } from './campaigns-pg.js';
import type { Funding } from './funding-pg.js';
import type { PayoutsStore, WithdrawalResult } from './payouts-pg.js';
import type { UsersStore } from './users-pg.js';
import type { WechatOAuth } from './wechat-oauth.js';

const MAX_LIMIT = 200;
const INT8_MAX = 2n ** 63n - 1n;

const withdrawalErrors: Record<Exclude<WithdrawalResult['status'], 'created' | 'exists'>, ApiResponse> = {
  idempotency_key_reused: error(
    409,
    'idempotency_key_reused',
    'this Idempotency-Key was used for a different withdrawal',
  ),
  insufficient_funds: error(422, 'insufficient_funds', 'the amount exceeds the available balance'),
  wechat_not_linked: error(422, 'wechat_not_linked', 'link a WeChat account first'),
  payout_in_flight: error(
    409,
    'payout_in_flight',
    'a payout is already on its way; withdraw again once it is paid or released',
  ),
};

/** Why `name` cannot go to WeChat's name check as the person's real name; undefined when it can. */
function realNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'name must be a string';
  const length = [...name].length;
  if (length < 1 || length > 64) return 'name must be 1..64 characters';
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name)) return 'name must hold no control or format characters';
  if (name.trim() !== name) return 'name must not start or end with a space';
  return undefined;
}

/** The ledger cursor's id: a next_cursor we returned is base64url of a positive int8. */
function cursorId(cursor: string): bigint | undefined {
  if (!/^[A-Za-z0-9_-]{1,28}$/.test(cursor)) return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('latin1');
  if (!/^[1-9]\d{0,18}$/.test(decoded)) return undefined;
  const id = BigInt(decoded);
  return id <= INT8_MAX ? id : undefined;
}

export function createApi(
  config: { platformTokenSecret: string; operatorToken: string; tokenMaxTtlS: number; minWithdrawalFen: Fen },
  deps: {
    users: UsersStore;
    payouts: PayoutsStore;
    oauth: WechatOAuth;
    now(): number;
    onPayout(payoutId: string): Promise<void>;
    /** Campaign refunds and views (campaigns-api.ts); onRefund hands a new refund to the payouts service. */
    funding: Pick<Funding, 'requestRefund'>;
    campaigns: Campaigns;
    onRefund(refundId: string): Promise<void>;
    /** The live user-token secrets of an app (token-secrets-pg.ts). */
    appSecrets(appId: string): readonly string[];
  },
) {
  /** `operator`: the operator may call this route though it writes (it moves no money). */
  const routes: {
    method: string;
    pattern: RegExp;
    operator?: true;
    run(person: Person, req: ApiRequest): Promise<ApiResponse>;
  }[] = [
    {
      method: 'GET',
      pattern: /^\/v1\/users\/([^/]+)\/balance$/,
      run: async (person) => ({ status: 200, body: await deps.users.balance(personKey(person)) }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/users\/([^/]+)\/ledger$/,
      async run(person, req) {
        const limitText = req.query.get('limit') ?? '50';
        const limit = /^[1-9]\d{0,2}$/.test(limitText) ? Number(limitText) : 0;
        if (limit < 1 || limit > MAX_LIMIT)
          return error(400, 'invalid_limit', `limit must be an integer 1..${MAX_LIMIT}`);
        const cursor = req.query.get('cursor');
        const before = cursor === null ? undefined : cursorId(cursor);
        if (cursor !== null && before === undefined)
          return error(400, 'invalid_cursor', 'cursor must be a value returned as next_cursor');
        const entries = await deps.users.history(personKey(person), { limit, before });
        const next = entries.length === limit ? Buffer.from(entries.at(-1)!.id).toString('base64url') : null;
        return { status: 200, body: { entries, next_cursor: next } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/users\/([^/]+)\/wechat\/link$/,
      async run(person, req) {
        const body = jsonBody(req);
        if (isResponse(body)) return body;
        if (typeof body.code !== 'string' || !/^[\w-]{1,128}$/.test(body.code))
          return error(400, 'invalid_code', 'code must be the OAuth code WeChat returned');
        const result = await deps.oauth.exchange(body.code);
        if (!result.ok) {
          if (result.error === 'invalid_code')
            return error(422, 'invalid_code', 'WeChat refused the code (expired, used, or for another app)');
          return error(503, result.error, 'WeChat could not be asked; try again later');
        }
        if (!(await deps.users.link(personKey(person), deps.oauth.appid, result.grant, deps.now()))) {
          return error(409, 'wechat_account_taken', 'this WeChat account is linked to another user');
        }
        return { status: 200, body: { linked: true, appid: deps.oauth.appid } };
      },
    },
    {
      // The person's real name, for WeChat's name check from 2,000 yuan: sealed at rest, never logged, never echoed.
      method: 'PUT',
      pattern: /^\/v1\/users\/([^/]+)\/wechat\/real-name$/,
      operator: true,
      async run(person, req) {
        const body = jsonBody(req);
        if (isResponse(body)) return body;
        const problem = realNameProblem(body.name);
        if (problem) return error(400, 'invalid_name', problem);
        const at = await deps.users.setRealName(personKey(person), body.name as string, deps.now());
        if (!at) return error(409, 'not_linked', 'link a WeChat account first: the name is checked against it');
        return { status: 200, body: { real_name_at: at.toISOString() } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/users\/([^/]+)\/withdrawals$/,
      async run(person, req) {
        const key = idempotencyKeyOf(req);
        if (isResponse(key)) return key;
        const body = jsonBody(req);
        if (isResponse(body)) return body;
        if (!Number.isSafeInteger(body.amount) || (body.amount as number) <= 0)
          return error(400, 'invalid_amount', 'amount must be a positive integer number of fen');
        const amountFen = fen(body.amount as number);
        if (amountFen < config.minWithdrawalFen)
          return error(422, 'amount_below_minimum', `the minimum withdrawal is ${config.minWithdrawalFen} fen`);
        const result = await deps.payouts.requestWithdrawal(person, amountFen, key);
        if (result.status !== 'created' && result.status !== 'exists') return withdrawalErrors[result.status];
        if (result.status === 'created') await deps.onPayout(result.payout.payoutId);
        return {
          status: 202,
          body: { payout_id: result.payout.payoutId, amount: Number(result.payout.amountFen), state: 'requested' },
          headers: result.status === 'exists' ? { 'idempotent-replayed': 'true' } : {},
        };
      },
    },
  ];

  const who = (req: ApiRequest) =>
    authenticate(req.headers.authorization, {
      platformSecret: config.platformTokenSecret,
      appSecrets: deps.appSecrets,
      operatorToken: config.operatorToken,
      maxTtlS: config.tokenMaxTtlS,
      nowMs: deps.now(),
    });
  const campaigns = createCampaignRoutes(deps);

  return async function handle(req: ApiRequest): Promise<ApiResponse> {
    const campaign = await campaigns(req, () => {
      const auth = who(req);
      return auth.ok ? auth : error(401, auth.error, auth.reason);
    });
    if (campaign) return campaign;
    const matches = routes.filter((r) => r.pattern.test(req.path));
    if (matches.length === 0) return error(404, 'not_found', `no route ${req.path}`);
    const route = matches.find((r) => r.method === req.method);
    if (!route)
      return {
        ...error(405, 'method_not_allowed', `use ${matches.map((r) => r.method).join(', ')}`),
        headers: { allow: matches.map((r) => r.method).join(', ') },
      };
    let userId: string;
    try {
      userId = decodeURIComponent(route.pattern.exec(req.path)![1]!);
    } catch {
      return error(400, 'invalid_user_id', 'the user id is not valid percent-encoding');
    }
    if (!isUserId(userId))
      return error(400, 'invalid_user_id', 'user ids are 1..64 characters, without "/", NUL or lone surrogates');
    const auth = who(req);
    if (!auth.ok) return error(401, auth.error, auth.reason);
    const person = requestedPerson(auth.principal, userId, req.headers['app-id']);
    if (!person.ok) return error(person.status, person.error, person.reason);
    if (!mayActFor(auth.principal, person.person, req.method !== 'GET' && !route.operator))
      return error(403, 'forbidden', 'this token may not act for that user');
    return route.run(person.person, req);
  };
}
