// The life of a top-up order (README "Top-ups and refunds"): committed `created`, then created at
// WeChat (open, with its QR code's URL or prepay id), paid or closed. Every word from WeChat about an
// order (a notification, a query, a close's query) goes through applyTrade; a payment becomes a
// `credit` job for rewards, which alone writes the ledger. The sweep is the clock: it sends creates
// whose answer was lost, queries orders no notification came for, closes expired ones, and hands
// off again what a crash dropped. Errors are values; a retriable fault leaves the row for the sweep.
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Fen } from '../../common/money.js';
import type { FundingOutcomeJob } from '../../schemas/queues.js';
import type { JsapiParams, PayIn, Trade, TradeType } from './pay-in.js';
import { createRefundFlow, type RefundStep, type RefundStore } from './refund-flow.js';
import { createRefusal, tradeMove, type Merchant, type OrderState } from './states.js';
import { wholeRefundNo, type Order, type TopupStore } from './store-pg.js';

/** Crash points (a test kills the process there): test-crash-main.ts. */
export type TopupStep = 'topup_formed' | 'topup_called' | 'topup_paid' | 'topup_close_called' | RefundStep;
const RACES = 5;
/** Rows one sweep looks at, of each kind (the rest wait for the next sweep). */
const SWEEP_LIMIT = 500;
/** WeChat does not know the order (v3, v2). */
const NOT_EXIST = new Set(['ORDER_NOT_EXIST', 'ORDERNOTEXIST']);

export interface TopupConfig {
  merchant: Merchant;
  currency: string;
  description: string;
  expiryMs: number;
  pollMs: number;
  notifyUrls: { pay: string; refund: string };
}
export interface TopupRequest {
  campaignId: string;
  advertiserId?: string;
  idempotencyKey: string;
  amountFen: Fen;
  tradeType: TradeType;
  payerOpenid?: string;
}
/** What a create came to: the order (open, still created, refused by WeChat, or made before), or why there is none. */
export type CreateOutcome =
  | { status: 'not_found' }
  | { status: 'conflict' }
  | { status: 'open' | 'pending' | 'exists'; order: Order }
  | { status: 'refused'; order: Order; code: string; message: string };
export type Decision = 'credit' | 'refund';

export type TopupFlowStore = RefundStore &
  Pick<
    TopupStore,
    | 'createOrder'
    | 'order'
    | 'recordOpen'
    | 'moveOrder'
    | 'refuseOrder'
    | 'markClosing'
    | 'closeUnsent'
    | 'claimDueOrders'
    | 'uncreditedOrders'
    | 'resolve'
    | 'claimDueParts'
    | 'unsettledParts'
    | 'unsplitRefunds'
  >;

export function createTopupFlow(
  config: TopupConfig,
  deps: {
    store: TopupFlowStore;
    payIn: PayIn;
    log: Logger;
    funding(job: FundingOutcomeJob): Promise<void>;
    metrics: { topup(event: string): void; topupRefund(outcome: string): void };
    onStep?(step: TopupStep): void;
  },
) {
  const { store, payIn, metrics } = deps;
  const log = deps.log.child({ mod: 'topups' });
  const refunds = createRefundFlow({ notifyUrl: config.notifyUrls.refund }, deps);
  const credit = (outTradeNo: string) => deps.funding({ kind: 'credit', outTradeNo });

  /** A retriable fault of a call is logged and left to the sweep; anything else is thrown. */
  async function call<T>(what: string, no: string, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      log.warn({ err, outTradeNo: no }, `topup_${what}_failed`);
      return undefined;
    }
  }

  /** WeChat's word on an order (a notification, a query). `known: false`: no such order here. */
  async function applyTrade(trade: Trade): Promise<{ known: boolean; state?: OrderState }> {
    for (let i = 0; i < RACES; i++) {
      const order = await store.order(trade.outTradeNo);
      if (!order) {
        log.warn({ outTradeNo: trade.outTradeNo, tradeState: trade.tradeState }, 'topup_trade_unknown');
        return { known: false };
      }
      const m = tradeMove(order, trade, config.merchant);
      const moved = m.to !== order.state;
      if (!moved && order.providerState === trade.tradeState) return { known: true, state: order.state };
      const payment =
        moved && trade.tradeState === 'SUCCESS'
          ? { transactionId: trade.transactionId, paidFen: trade.totalFen, paidAt: trade.successTime }
          : {};
      if (
        !(await store.moveOrder(order.outTradeNo, order.state, m.to, {
          reason: m.reason,
          providerState: trade.tradeState,
          ...payment,
        }))
      )
        continue;
      if (moved) {
        metrics.topup(m.to);
        const attention = m.to === 'attention';
        log[attention ? 'error' : 'info'](
          {
            outTradeNo: order.outTradeNo,
            from: order.state,
            to: m.to,
            reason: m.reason,
            totalFen: trade.totalFen,
            amountFen: order.amountFen,
          },
          attention ? 'topup_needs_attention' : 'topup_moved',
        );
      }
      if (m.to === 'paid' && moved) {
        deps.onStep?.('topup_paid');
        await credit(order.outTradeNo);
      }
      return { known: true, state: m.to };
    }
    throw new PipelineError('topup_contended', `order ${trade.outTradeNo} kept moving under us`, { retriable: true });
  }

  /** Queries order `no` and applies the answer; WeChat not knowing a closing order that never got an answer closes it. */
  async function query(no: string): Promise<void> {
    const answer = await call('query', no, () => payIn.query(no));
    if (!answer) return;
    if (answer.ok) return void (await applyTrade(answer.value));
    if (NOT_EXIST.has(answer.code) && (await store.closeUnsent(no, answer.code)))
      return void log.info({ outTradeNo: no }, 'topup_closed_unsent');
    log.warn({ outTradeNo: no, code: answer.code, message: answer.message }, 'topup_query_refused');
  }

  /** Sends order `no`'s create (the first time, or again with the same number and body) while it is created. */
  async function submit(no: string): Promise<CreateOutcome> {
    const order = await store.order(no);
    if (!order) return { status: 'not_found' };
    if (order.state !== 'created') return { status: 'exists', order };
    deps.onStep?.('topup_formed');
    const answer = await call('create', no, () =>
      payIn.create({
        outTradeNo: no,
        amountFen: order.amountFen,
        description: order.description,
        tradeType: order.tradeType,
        expiresAt: order.expiresAt,
        ...(order.payerOpenid ? { payerOpenid: order.payerOpenid } : {}),
        notifyUrl: config.notifyUrls.pay,
        attach: order.campaignId,
      }),
    );
    if (!answer) return { status: 'pending', order };
    deps.onStep?.('topup_called');
    if (answer.ok) {
      const c = answer.value;
      const opened = await store.recordOpen(
        no,
        c.tradeType === 'NATIVE' ? { codeUrl: c.codeUrl } : { prepayId: c.prepayId },
      );
      if (opened) metrics.topup('open');
      return { status: opened ? 'open' : 'exists', order: opened ?? (await store.order(no))! };
    }
    const meaning = createRefusal(answer);
    if (meaning === 'query') await query(no);
    if (meaning !== 'closed') {
      log.warn({ outTradeNo: no, code: answer.code, message: answer.message }, 'topup_create_refused');
      return { status: meaning === 'retry' ? 'pending' : 'exists', order: (await store.order(no))! };
    }
    if (await store.refuseOrder(no, answer.code)) metrics.topup('refused');
    log.error(
      { outTradeNo: no, code: answer.code, message: answer.message, meaning: answer.error.meaning },
      'topup_create_refused',
    );
    return { status: 'refused', order: (await store.order(no))!, code: answer.code, message: answer.message };
  }

  /** Closes order `no` (closing): the close call, then a query, whose answer decides (CLOSED, or paid first). */
  async function close(no: string): Promise<void> {
    if ((await store.order(no))?.state !== 'closing') return;
    const answer = await call('close', no, () => payIn.close(no));
    if (!answer) return;
    deps.onStep?.('topup_close_called');
    if (!answer.ok) log.info({ outTradeNo: no, code: answer.code }, 'topup_close_refused'); // ORDERPAID, ORDER_NOT_EXIST: the query says
    await query(no);
  }

  /** An order the sweep found due: expired ones are closed, created ones sent again, open ones queried. */
  async function due(d: { outTradeNo: string; state: OrderState; expired: boolean }): Promise<void> {
    if (d.expired && (d.state === 'created' || d.state === 'open')) {
      if (await store.markClosing(d.outTradeNo)) log.info({ outTradeNo: d.outTradeNo }, 'topup_expired');
      return close(d.outTradeNo);
    }
    if (d.state === 'created') return void (await submit(d.outTradeNo));
    if (d.state === 'open') return query(d.outTradeNo);
    if (d.state === 'closing') return close(d.outTradeNo);
  }

  /** Runs `work` on each of `items`; one that fails is logged, and the rest still run. */
  async function each<T>(what: string, items: T[], work: (item: T) => Promise<void>): Promise<void> {
    for (const item of items) {
      try {
        await work(item);
      } catch (err) {
        log.warn({ err, item }, `topup_sweep_${what}_failed`);
      }
    }
  }

  return {
    applyTrade,
    applyRefund: refunds.applyRefund,
    submit,
    /** Takes up a campaign refund (refund-requests job, or the sweep). */
    intakeRefund: refunds.intake,
    /** Asks WeChat about order `no` and applies its answer (reconciliation, when the trade bill is further along). */
    query,
    /** The same for refund part `no`. */
    pollRefund: refunds.poll,
    /** Asks WeChat about refund part `no` now, whatever its state (a person handled an ABNORMAL refund), and applies the answer. */
    checkRefund: refunds.check,

    /** A create from the API: the order committed, then sent; a repeat under the same key is the same order (another body: conflict). */
    async create(req: TopupRequest): Promise<CreateOutcome> {
      const r = await store.createOrder({
        ...req,
        currency: config.currency,
        api: payIn.api,
        description: config.description,
        expiryMs: config.expiryMs,
      });
      if (r.status === 'not_found') return r;
      const o = r.order;
      if (
        o.campaignId !== req.campaignId ||
        o.amountFen !== req.amountFen ||
        o.tradeType !== req.tradeType ||
        (o.payerOpenid ?? undefined) !== req.payerOpenid
      )
        return { status: 'conflict' };
      if (r.status === 'created') {
        metrics.topup('created');
        log.info(
          { outTradeNo: o.outTradeNo, campaignId: o.campaignId, amountFen: o.amountFen, tradeType: o.tradeType },
          'topup_created',
        );
      }
      const sent = o.state === 'created' ? await submit(o.outTradeNo) : { status: 'exists' as const, order: o };
      return sent.status === 'open' && r.status === 'exists' ? { status: 'exists', order: sent.order } : sent;
    },

    /** What the payer's side needs while the order is open: the QR code's URL, or the signed wx.requestPayment parameters. */
    checkout(order: Order): { codeUrl?: string; jsapi?: JsapiParams } {
      if (order.state !== 'open') return {};
      if (order.codeUrl) return { codeUrl: order.codeUrl };
      return order.prepayId ? { jsapi: payIn.jsapiParams(order.prepayId) } : {};
    },

    /**
     * A person's decision on an order in attention: credit (paid, and credited), or refund (refunded
     * whole at WeChat; no ledger account moves). A repeat of the same decision does its hand-off again.
     */
    async resolve(
      no: string,
      decision: Decision,
    ): Promise<{ ok: true; order: Order } | { ok: false; reason: 'not_found' | 'not_in_attention'; order?: Order }> {
      const order = (await store.resolve(no, decision)) ?? (await store.order(no));
      if (!order) return { ok: false, reason: 'not_found' };
      if (order.resolution !== decision) return { ok: false, reason: 'not_in_attention', order };
      log.warn({ outTradeNo: no, decision }, 'topup_resolved');
      if (decision === 'credit') await credit(no);
      else {
        const part = await store.part(wholeRefundNo(no));
        if (part?.state === 'created') await refunds.send(part);
      }
      return { ok: true, order: (await store.order(no))! };
    },

    /** The clock: orders and parts due, credits and refund outcomes the ledger lacks, refunds never split. */
    async sweep(): Promise<void> {
      await each('order', await store.claimDueOrders(SWEEP_LIMIT), due);
      await each('refund', await store.claimDueParts(SWEEP_LIMIT), (p) => refunds.poll(p.outRefundNo));
      await each('credit', await store.uncreditedOrders(SWEEP_LIMIT), credit);
      await each('outcome', await store.unsettledParts(SWEEP_LIMIT), (p) =>
        deps.funding({
          kind: p.state === 'succeeded' ? 'refund_settle' : 'refund_release',
          outRefundNo: p.outRefundNo,
        }),
      );
      await each('intake', await store.unsplitRefunds(config.pollMs, SWEEP_LIMIT), refunds.intake);
    },
  };
}
export type TopupFlow = ReturnType<typeof createTopupFlow>;
