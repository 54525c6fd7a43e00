// The operator's top-up commands (`npm run payouts -- topup | topups | topup-resolve | topup-refund-check`), run by cli-main.ts:
//   topup <campaign_id> <fen> [--jsapi <openid>]   create a top-up; prints its number, state, code_url and QR code
//   topups [campaign_id]                           the newest top-ups (of a campaign), as a table
//   topup-resolve <out_trade_no> credit|refund     decide on an order in attention: credit it, or refund it whole
//   topup-refund-check <out_refund_no>             ask WeChat about a refund now (one just handled as abnormal), print its state
import { randomUUID } from 'node:crypto';
import { fen, type Fen } from '../../common/money.js';
import type { Topups } from './service.js';
import { qrTerminal } from './qr.js';
import type { Asked } from './refund-flow.js';
import { isAbnormal } from './states.js';
import type { Order, Part } from './store-pg.js';

export const topupUsage =
  'topup <campaign_id> <fen> [--jsapi <openid>] | topups [campaign_id] | topup-resolve <out_trade_no> credit|refund | topup-refund-check <out_refund_no>';
const LIST_LIMIT = 100;

const yuan = (amount: Fen) => `${amount / 100n}.${String(amount % 100n).padStart(2, '0')}`;
const row = (o: Order) => [
  o.outTradeNo,
  o.campaignId,
  yuan(o.amountFen),
  o.tradeType,
  o.state,
  o.providerState ?? '',
  o.attentionReason ?? o.resolution ?? '',
  o.createdAt.toISOString(),
];

/** What a refund part's state means for the person who asked, and for the money. */
function partMeaning(p: Part): string {
  const ledger = p.refundId === null ? 'a whole-order refund: the ledger is not touched' : undefined;
  if (p.state === 'succeeded')
    return `${yuan(p.amountFen)} yuan went back to the payer; ${ledger ?? 'rewards settles it to the advertiser (refund_settle)'}`;
  if (p.state === 'failed')
    return `nothing went back (${p.stateReason ?? 'failed'}); ${ledger ?? "its money returns to the campaign's budget (refund_release)"}`;
  if (isAbnormal(p))
    return "WeChat could not return it to the payer's card: handle it on the merchant platform (or with the 异常退款 API, apply-abnormal-refund), then check again";
  if (p.state === 'attention') return `in attention (${p.stateReason ?? 'unknown'}): a person must look at it`;
  if (p.state === 'processing') return 'WeChat is still returning it; the sweep asks again';
  return 'not at WeChat yet; the sweep sends it';
}
const wechatWord = (w: Asked) =>
  w.kind === 'status' ? w.status : w.kind === 'refused' ? `refused ${w.code} ${w.message}` : 'not reached';

/** Columns padded to their widest cell. */
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Runs `command` if it is a top-up command: its exit status, printing through `out`; undefined when it
 * is not one. Bad arguments throw, with the usage.
 */
export async function runTopupCommand(
  command: string | undefined,
  args: string[],
  topups: Topups,
  out: (line: string) => void,
): Promise<number | undefined> {
  if (command === 'topup') {
    const [campaignId, fenText, flag, openid] = args;
    if (
      !campaignId ||
      !fenText ||
      !/^[1-9]\d{0,15}$/.test(fenText) ||
      (flag !== undefined && (flag !== '--jsapi' || !openid))
    )
      throw new Error(`usage: ${topupUsage}`);
    const r = await topups.flow.create({
      campaignId,
      amountFen: fen(fenText),
      idempotencyKey: `cli-${randomUUID()}`,
      tradeType: openid ? 'JSAPI' : 'NATIVE',
      ...(openid ? { payerOpenid: openid } : {}),
    });
    if (r.status === 'not_found')
      throw new Error(
        `campaign ${campaignId} does not exist or has no advertiser bound (npm run rewards -- advertiser)`,
      );
    if (r.status === 'conflict') throw new Error('idempotency key reused'); // a fresh key each time: never
    const o = r.order;
    out(`out_trade_no ${o.outTradeNo}`);
    out(
      `state        ${o.state}${r.status === 'refused' ? ` (WeChat refused it: ${r.code} ${r.message})` : o.state === 'created' ? ' (WeChat not reached yet; the sweep sends it again)' : ''}`,
    );
    out(`expires_at   ${o.expiresAt.toISOString()}`);
    const checkout = topups.flow.checkout(o);
    if (checkout.codeUrl) {
      out(`code_url     ${checkout.codeUrl}`);
      out(await qrTerminal(checkout.codeUrl));
    }
    if (checkout.jsapi) out(`jsapi        ${JSON.stringify(checkout.jsapi)}`);
    return r.status === 'refused' ? 1 : 0;
  }
  if (command === 'topups') {
    const orders = await topups.store.list(args[0] ? { campaignId: args[0] } : {}, LIST_LIMIT);
    out(
      table(
        ['out_trade_no', 'campaign', 'yuan', 'method', 'state', 'wechat', 'attention', 'created_at'],
        orders.map(row),
      ),
    );
    out(
      `${orders.length} top-up${orders.length === 1 ? '' : 's'}${orders.length === LIST_LIMIT ? ` (the newest ${LIST_LIMIT})` : ''}`,
    );
    return 0;
  }
  if (command === 'topup-resolve') {
    const [no, decision] = args;
    if (!no || (decision !== 'credit' && decision !== 'refund')) throw new Error(`usage: ${topupUsage}`);
    const r = await topups.flow.resolve(no, decision);
    if (!r.ok)
      throw new Error(
        r.reason === 'not_found'
          ? `no top-up ${no}`
          : `top-up ${no} is ${r.order!.state}${r.order!.resolution ? `, resolved ${r.order!.resolution}` : ''}: only an order in attention can be resolved, once`,
      );
    out(
      decision === 'credit'
        ? `${no}: paid; its ${yuan(r.order.paidFen ?? r.order.amountFen)} yuan are credited to campaign ${r.order.campaignId}`
        : `${no}: refunded whole at WeChat (refund R${no}); the ledger is not touched`,
    );
    return 0;
  }
  if (command === 'topup-refund-check') {
    const [no] = args;
    if (!no || args.length !== 1) throw new Error(`usage: ${topupUsage}`);
    const r = await topups.flow.checkRefund(no);
    if (!r) throw new Error(`no refund ${no}`);
    out(`${no}: ${r.part.state} (WeChat: ${wechatWord(r.wechat)})`);
    out(`  ${partMeaning(r.part)}`);
    return r.wechat.kind === 'status' ? 0 : 1;
  }
  return undefined;
}
