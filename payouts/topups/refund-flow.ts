// Refunds of top-ups (README "Top-ups and refunds"): a campaign refund rewards has held is split over
// the campaign's paid orders (parts committed before any call), each part sent to WeChat under its
// fixed number, and every word from WeChat about a part (the call's answer, a REFUND notification, a
// query) goes through applyRefund. A part's final outcome is handed to rewards (settle or release);
// an ABNORMAL part waits for a person, and succeeds when WeChat says SUCCESS after they handled it.
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { FundingOutcomeJob } from '../../schemas/queues.js';
import type { PayIn, RefundStatus, RefundView } from './pay-in.js';
import { isAbnormal, refundMove, refundRefusal, type PartState } from './states.js';
import type { Part, TopupStore } from './store-pg.js';

export type RefundStep = 'refund_formed' | 'refund_called' | 'refund_recorded';
/** How many times a move is tried again after another worker moved the row first. */
const RACES = 5;

export type RefundStore = Pick<TopupStore, 'splitRefund' | 'part' | 'movePart'>;
export interface RefundDeps {
  store: RefundStore;
  payIn: PayIn;
  log: Logger;
  funding(job: FundingOutcomeJob): Promise<void>;
  metrics: { topupRefund(outcome: string): void };
  onStep?(step: RefundStep): void;
}

/** What a query of a part came to. */
export type Asked =
  | { kind: 'status'; status: RefundStatus }
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'unreachable' };

const isFinal = (s: PartState): s is 'succeeded' | 'failed' => s === 'succeeded' || s === 'failed';

export function createRefundFlow(config: { notifyUrl: string }, deps: RefundDeps) {
  const { store, payIn, metrics } = deps;
  const log = deps.log.child({ mod: 'topup_refunds' });

  /** A final part of a campaign refund goes to the ledger; a person's whole-order refund never entered it. */
  async function handOff(part: { outRefundNo: string; refundId: string | null }, state: PartState): Promise<void> {
    if (!isFinal(state) || part.refundId === null) return;
    await deps.funding({
      kind: state === 'succeeded' ? 'refund_settle' : 'refund_release',
      outRefundNo: part.outRefundNo,
    });
  }

  /** Moves part `no` as `decide` says of it as it is now, guarded by the state read; what it moved to, or undefined (unknown). */
  async function move(
    no: string,
    decide: (
      part: Part,
    ) =>
      | { to: PartState; reason?: string; providerState?: string; wechatRefundId?: string; succeededAt?: Date }
      | undefined,
  ) {
    for (let i = 0; i < RACES; i++) {
      const part = await store.part(no);
      if (!part) return undefined;
      const m = decide(part);
      if (!m || (m.to === part.state && (m.providerState ?? part.providerState) === part.providerState))
        return { part, to: part.state, moved: false };
      if (!(await store.movePart(no, part.state, m.to, m))) continue;
      deps.onStep?.('refund_recorded');
      // A part in attention for a new reason (an ABNORMAL one handled for another amount) is news too.
      if (m.to !== part.state || (m.reason !== undefined && m.reason !== part.stateReason)) {
        metrics.topupRefund(m.to);
        const level = m.to === 'attention' ? 'error' : 'info';
        log[level](
          {
            outRefundNo: no,
            outTradeNo: part.outTradeNo,
            refundId: part.refundId,
            from: part.state,
            to: m.to,
            reason: m.reason,
          },
          m.to === 'attention' ? 'topup_refund_needs_attention' : 'topup_refund_moved',
        );
      }
      if (m.to !== part.state) await handOff(part, m.to);
      return { part, to: m.to, moved: m.to !== part.state };
    }
    throw new PipelineError('topup_refund_contended', `refund part ${no} kept moving under us`, { retriable: true });
  }

  /** WeChat's word on a refund (the call's answer, a notification, a query). `known: false`: no such part of that order. */
  async function applyRefund(view: RefundView): Promise<{ known: boolean; state?: PartState }> {
    const r = await move(view.outRefundNo, (part) =>
      part.outTradeNo !== view.outTradeNo
        ? undefined
        : {
            ...refundMove(part, view),
            providerState: view.status,
            wechatRefundId: view.refundId,
            succeededAt: view.status === 'SUCCESS' ? view.successTime : undefined,
          },
    );
    if (!r || r.part.outTradeNo !== view.outTradeNo) {
      log.warn(
        { outRefundNo: view.outRefundNo, outTradeNo: view.outTradeNo, status: view.status },
        'topup_refund_unknown',
      );
      return { known: false };
    }
    return { known: true, state: r.to };
  }

  /** Queries part `no` and applies the answer: WeChat's status, its refusal, or unreachable (a retriable fault, logged). */
  async function ask(no: string): Promise<Asked> {
    let answer;
    try {
      answer = await payIn.queryRefund(no);
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      log.warn({ err, outRefundNo: no }, 'topup_refund_query_failed');
      return { kind: 'unreachable' };
    }
    if (answer.ok) {
      await applyRefund(answer.value);
      return { kind: 'status', status: answer.value.status };
    }
    log.warn({ outRefundNo: no, code: answer.code, message: answer.message }, 'topup_refund_query_refused');
    return { kind: 'refused', code: answer.code, message: answer.message };
  }

  /** Sends part `part` (created) to WeChat; a retriable fault or refusal leaves it created for the sweep. */
  async function send(part: Part): Promise<void> {
    let answer;
    try {
      answer = await payIn.refund({
        outRefundNo: part.outRefundNo,
        outTradeNo: part.outTradeNo,
        amountFen: part.amountFen,
        totalFen: part.totalFen,
        reason: part.reason,
        notifyUrl: config.notifyUrl,
      });
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      log.warn({ err, outRefundNo: part.outRefundNo }, 'topup_refund_call_failed');
      return;
    }
    deps.onStep?.('refund_called');
    if (answer.ok) {
      await applyRefund(answer.value);
      return;
    }
    const meaning = refundRefusal(answer);
    if (meaning === 'failed') {
      await move(part.outRefundNo, (p) =>
        p.state === 'created' ? { to: 'failed', reason: answer.code, providerState: answer.code } : undefined,
      );
      return;
    }
    if (meaning === 'hold') metrics.topupRefund('refused');
    log[meaning === 'hold' ? 'error' : 'warn'](
      { outRefundNo: part.outRefundNo, code: answer.code, message: answer.message, meaning: answer.error.meaning },
      'topup_refund_refused',
    );
  }

  return {
    applyRefund,
    send,

    /** Takes up campaign refund `refundId`: its parts (split once), each sent; final ones (nothing refundable) handed off. */
    async intake(refundId: string): Promise<void> {
      const split = await store.splitRefund(refundId);
      if (!split) return void log.warn({ refundId }, 'topup_refund_request_unknown');
      const covered = split.parts.reduce((sum, p) => sum + p.amountFen, 0n);
      if (covered !== split.amountFen)
        log.error({ refundId, amountFen: split.amountFen, covered }, 'topup_refund_not_covered');
      deps.onStep?.('refund_formed');
      for (const part of split.parts) {
        if (part.state === 'created') await send(part);
        else await handOff(part, part.state);
      }
    },

    /** A part the sweep found due: sent again while created, queried while processing or ABNORMAL (a person may have handled it). */
    async poll(outRefundNo: string): Promise<void> {
      const part = await store.part(outRefundNo);
      if (part?.state === 'created') return send(part);
      if (part && (part.state === 'processing' || isAbnormal(part))) await ask(outRefundNo);
    },

    /**
     * Asks WeChat about part `no` now, whatever its state, and applies the answer (a person who just
     * handled an ABNORMAL refund): the part as it is then and WeChat's word, or undefined (no such part).
     */
    async check(no: string): Promise<{ part: Part; wechat: Asked } | undefined> {
      if (!(await store.part(no))) return undefined;
      const wechat = await ask(no);
      return { part: (await store.part(no))!, wechat };
    },
  };
}
export type RefundFlow = ReturnType<typeof createRefundFlow>;
