// The three WeChat transfer products behind one interface: a batch of items is submitted, then
// queried until every item is final. Resubmitting and querying always reuse the item's request
// number and exact parameters, so neither can pay twice. Which product a merchant uses is config.
// One file per product beside this one; here the interface and what they share.
import { PipelineError } from '../../common/errors.js';
import type { Fen } from '../../common/money.js';
import { merchantWideCodes, type WechatErrorInfo } from '../wechat/errors.js';
import type { V3Client } from '../wechat/v3-client.js';

export type Api = 'v2_transfer' | 'v3_batch' | 'v3_bill';
/**
 * A transfer as sent: `userName` (plain; the client encrypts it) only where WeChat's real-name rule needs it;
 * `authorizationId`: a transfer bill sent with the payee's no-confirmation authorization (no confirm page).
 * Each product writes `amountFen` into WeChat's request as a plain number.
 */
export interface Item {
  requestNo: string;
  amountFen: Fen;
  openid: string;
  userName?: string;
  authorizationId?: string;
}
/**
 * What the provider said of a transfer; `providerState` is WeChat's own state word (a bill's ACCEPTED ... SUCCESS).
 * `held`: WeChat refused this transfer alone with a code a person must look at (`reason`, and its `message`); the others go on.
 */
export interface ItemResult {
  requestNo: string;
  outcome: 'succeeded' | 'failed' | 'pending' | 'held';
  reason?: string;
  message?: string;
  providerId?: string;
  packageInfo?: string;
  providerState?: string;
}
export type Answer =
  | { ok: true; results: ItemResult[]; providerBatchId?: string }
  | { ok: false; code: string; message: string; error: WechatErrorInfo };

/** A day's fund-flow bill: its text, none for a day without movements, or not made yet. */
export type Bill = { ok: true; text: string } | { ok: false; reason: 'creating' | 'failed'; detail: string };

export interface Provider {
  api: Api;
  /** The fund-flow bill of China calendar day `day` (yyyy-MM-dd). */
  bill(day: string): Promise<Bill>;
  /** Items per submit: 1000 for v3 batches (WeChat's maximum); the others send one call per item. */
  maxBatch: number;
  submit(batchNo: string, items: Item[], params: BatchParams): Promise<Answer>;
  query(batchNo: string, items: Item[], params: BatchParams): Promise<Answer>;
  /** Transfer bills: a fresh confirm-page package, by creating each bill again (same number, same body). */
  refresh?(batchNo: string, items: Item[], params: BatchParams): Promise<Answer>;
  /**
   * Transfer bills: asks WeChat to cancel a bill its user has not confirmed. The answer is never an
   * outcome (always `pending`, with WeChat's state or refusal code): only a query's CANCELLED releases.
   */
  cancel?(requestNo: string): Promise<ItemResult>;
}

/**
 * The request parameters a batch is formed with, stored with it (payout_batches.params): a resubmit
 * or a re-create sends exactly these, so a config change never turns into "单号已存在但信息不一致".
 */
export interface BatchParams {
  remark: string;
  sceneId: string;
  sceneReport: { info_type: string; info_content: string }[];
  notifyUrl?: string;
}

export interface ProviderConfig {
  appid: string;
  clientIp: string;
  maxBatch: number;
}

export const pending = (requestNo: string, reason?: string): ItemResult => ({
  requestNo,
  outcome: 'pending',
  ...(reason ? { reason } : {}),
});
/**
 * A refusal a person must look at. `alone`: it may be this one transfer's (a signed answer whose code is
 * not the merchant's configuration, errors.ts merchantWideCodes), so `each` holds that transfer and goes
 * on; otherwise it refuses the whole call (configuration, a key, a product the merchant lacks).
 */
export type Refusal = Extract<Answer, { ok: false }> & { alone?: boolean };
type Refused = { code: string; message: string; error: WechatErrorInfo };
const refusal = (a: Refused, alone = false): Refusal => ({
  ok: false,
  code: a.code,
  message: a.message,
  error: a.error,
  ...(alone ? { alone } : {}),
});
/**
 * A refused send: failed for good when the code is final, pending when it may be sent again; any other
 * code is a refusal a person must look at: the transfer's alone (PARAM_ERROR, INVALID_REQUEST ...) when
 * WeChat vouched for the answer (`signed`), else the call's (SIGN_ERROR, NO_AUTH ...: the batch goes to attention).
 */
export const refused = (requestNo: string, a: Refused, signed = false): ItemResult | Refusal =>
  a.error.final
    ? { requestNo, outcome: 'failed', reason: a.code }
    : a.error.retriable
      ? pending(requestNo, a.code)
      : refusal(a, signed && !merchantWideCodes.has(a.code));
/** A refused query: never an outcome; pending when it may be asked again, else the call is refused. */
export const unanswered = (requestNo: string, a: Refused): ItemResult | Refusal =>
  a.error.retriable ? pending(requestNo, a.code) : refusal(a);

/** The first this many transfers of a round all refused alone with one code: the merchant's fault, not theirs. */
export const SAME_REFUSALS_STOP = 3;

/**
 * One call per item. A call that threw (network, timeout, unverifiable answer) leaves its outcome
 * unknown, so the item stays pending. A refusal of the call (the merchant's configuration) stops the
 * round and is the answer. One that may be the transfer's alone holds that transfer for a person
 * (`held`) and the round goes on, so one bad transfer never stops the others' money; unless `hold` is
 * false (a package refresh: the bill exists, so its refusal is never an outcome), or the first
 * SAME_REFUSALS_STOP transfers are all refused so with one code, which is configuration dressed as a
 * transfer's fault: the round stops.
 */
export async function each(
  items: Item[],
  call: (item: Item) => Promise<ItemResult | Refusal>,
  opts: { hold?: boolean } = {},
): Promise<Answer> {
  const results: ItemResult[] = [];
  for (const item of items) {
    try {
      const r = await call(item);
      if ('ok' in r) {
        const sameAsAll =
          results.length === SAME_REFUSALS_STOP - 1 &&
          results.every((x) => x.outcome === 'held' && x.reason === r.code);
        if (!r.alone || opts.hold === false || sameAsAll)
          return { ok: false, code: r.code, message: r.message, error: r.error };
        results.push({ requestNo: item.requestNo, outcome: 'held', reason: r.code, message: r.message });
        continue;
      }
      results.push(r);
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      results.push(pending(item.requestNo, err.code));
    }
  }
  return { ok: true, results };
}

/** v3: NO_STATEMENT_EXIST is a day without movements, an empty bill. */
export const v3Bill =
  (client: V3Client) =>
  async (day: string): Promise<Bill> => {
    const a = await client.fundflowBill(day);
    if (a.ok) return { ok: true, text: a.data };
    if (a.code === 'NO_STATEMENT_EXIST') return { ok: true, text: '' };
    return {
      ok: false,
      reason: a.code === 'STATEMENT_CREATING' ? 'creating' : 'failed',
      detail: `${a.code} ${a.message}`,
    };
  };
