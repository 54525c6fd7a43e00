// The sandbox's trade bill (交易账单, reference/wechatpay.md §6): a China day's payments (交易状态
// SUCCESS, on the day they were paid) and refunds (REFUND, on the day they succeeded) in WeChat's CSV:
// UTF-8 BOM, a plain header, backtick-prefixed fields written as they are, then the summary header and
// its values. Amounts in yuan with 2 decimals; the fee is `feeRate` of the amount rounded half up to
// the fen, negative on a refund. bill_type SUCCESS or REFUND keeps only those rows.
import type { Order, Refund, Trades } from './trades.js';

export type TradeBillType = 'ALL' | 'SUCCESS' | 'REFUND';
export const TRADE_HEADER =
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
export const TRADE_SUMMARY =
  '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额';

/** Fen as yuan with 2 decimals, without floating point ("-0.05"). */
export const yuan = (fen: number) =>
  `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`;
/** The fee on `fen` at `feeRate`, rounded half up to the fen (rates kept as millionths, so no float drift). */
export const feeFen = (fen: number, feeRate: number) =>
  Math.floor((fen * Math.round(feeRate * 1_000_000) + 500_000) / 1_000_000);

/** One row: a payment (no refund) or a refund of the order. */
interface Line {
  at: number;
  order: Order;
  refund?: Refund;
}

/** The rows of [startMs, endMs): payments by when they were paid, successful refunds by when they succeeded. */
export function tradeLines(trades: Trades, startMs: number, endMs: number, type: TradeBillType): Line[] {
  const within = (at: number | undefined) => at !== undefined && at >= startMs && at < endMs;
  const paid =
    type === 'REFUND'
      ? []
      : [...trades.orders.values()]
          .filter((o) => o.state === 'SUCCESS' && within(o.paidAt))
          .map((order) => ({ at: order.paidAt!, order }));
  const refunded =
    type === 'SUCCESS'
      ? []
      : [...trades.refunds.values()]
          .filter((r) => r.status === 'SUCCESS' && within(r.finishedAt))
          .map((refund) => ({ at: refund.finishedAt!, order: trades.orders.get(refund.outTradeNo)!, refund }));
  return [...paid, ...refunded].sort((a, b) => a.at - b.at);
}

export function tradeBillCsv(lines: Line[], feeRate: number): string {
  const time = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  const rate = `${(Math.round(feeRate * 1_000_000) / 10_000).toFixed(2)}%`;
  const amounts = lines.map(({ order: o, refund: r }) => ({
    settled: o.totalFen,
    refund: r?.amountFen ?? 0,
    fee: r ? -feeFen(r.amountFen, feeRate) : feeFen(o.totalFen, feeRate),
    order: o.totalFen,
  }));
  const rows = lines.map(({ at, order: o, refund: r }, i) => {
    const a = amounts[i]!;
    return [
      time(at),
      o.appid,
      o.mchid,
      '0',
      '',
      o.transactionId,
      o.outTradeNo,
      o.payerOpenid,
      o.tradeType,
      r ? 'REFUND' : 'SUCCESS',
      'OTHERS',
      'CNY',
      yuan(a.settled),
      '0.00',
      r?.refundId ?? '0',
      r?.outRefundNo ?? '0',
      yuan(a.refund),
      '0.00',
      r ? 'ORIGINAL' : '',
      r ? 'SUCCESS' : '',
      o.description,
      o.attach,
      yuan(a.fee),
      rate,
      yuan(a.order),
      yuan(a.refund),
      '',
    ]
      .map((v) => `\`${v ?? ''}`)
      .join(',');
  });
  const total = (f: (x: (typeof amounts)[number]) => number) => yuan(amounts.reduce((n, x) => n + f(x), 0));
  const summary = [
    String(lines.length),
    total((x) => x.settled),
    total((x) => x.refund),
    '0.00',
    total((x) => x.fee),
    total((x) => x.order),
    total((x) => x.refund),
  ];
  return `\uFEFF${TRADE_HEADER}\n${rows.map((r) => `${r}\n`).join('')}${TRADE_SUMMARY}\n${summary.map((v) => `\`${v}`).join(',')}\n`;
}
