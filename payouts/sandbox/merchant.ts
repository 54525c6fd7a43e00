// The sandbox merchant: its balance, the money it has paid out (the fund flow the bills are made
// from), and the faults a test or the demo has asked for. Every transfer API pays through `pay`.
import { randomBytes } from 'node:crypto';
import type { Journal } from './journal.js';
import { chinaTime } from './timers.js';

/** Faults to inject, by count (the next n calls) so tests are deterministic; set via POST /sandbox/faults. */
export interface Faults {
  latencyMs: number;
  /** Answer 500 SYSTEM_ERROR (v2: SYSTEMERROR) without doing anything. */
  systemError: number;
  /** Do the work, then answer 500 SYSTEM_ERROR: the caller cannot know it succeeded. */
  systemErrorAfterWork: number;
  /** Do the work, then never answer (the caller times out). */
  timeoutAfterWork: number;
  notEnough: number;
  frequencyLimited: number;
  /** Openids whose transfers fail, with the reason. */
  failOpenids: Record<string, string>;
  /** The next n successful payments fail 25 steps later (the money comes back; the bill shows it). */
  lateFail: number;
  duplicateCallbacks: boolean;
  reorderCallbacks: boolean;
  /** The next n callbacks carry a bad signature first (then the real one follows on retry). */
  badCallbackSignature: number;
  /** Send a WECHATPAY/SIGNTEST probe before each callback. */
  signtestProbe: boolean;
  /** Serve bills for any day at once (instead of after 10:00 the next day). */
  billsAtOnce: boolean;
}
export const noFaults = (): Faults => ({
  latencyMs: 0, systemError: 0, systemErrorAfterWork: 0, timeoutAfterWork: 0, notEnough: 0, frequencyLimited: 0, failOpenids: {},
  lateFail: 0, duplicateCallbacks: false, reorderCallbacks: false, badCallbackSignature: 0, signtestProbe: false, billsAtOnce: false,
});

export interface FundFlow { at: number; wechatNo: string; flowNo: string; business: string; inOut: '收入' | '支出'; amountFen: number; balanceFen: number; voucherNo: string; remark: string }

export interface MerchantConfig {
  mchid: string; appid: string; apiV2Key: string; apiV3Key: string; balanceFen: number; userDailyLimitFen: number;
}

export function createMerchant(config: MerchantConfig, deps: { journal: Journal; now(): number }) {
  const flows = deps.journal.flows<FundFlow>();
  let balanceFen = flows.at(-1)?.balanceFen ?? config.balanceFen;
  // Request numbers paid, and refunded: a transfer resumed after a restart that had paid some of it
  // pays the rest only, and a late failure resumed refunds once.
  const paid = new Set(flows.filter((f) => f.inOut === '支出').map((f) => f.voucherNo));
  const refunded = new Set(flows.filter((f) => f.inOut === '收入').map((f) => f.voucherNo));
  const receivedToday = new Map<string, number>();
  const faults = noFaults();
  const calls = new Map<string, number>();
  const take = (name: 'systemError' | 'systemErrorAfterWork' | 'timeoutAfterWork' | 'notEnough' | 'frequencyLimited' | 'lateFail' | 'badCallbackSignature') =>
    faults[name] > 0 ? (faults[name]--, true) : false;
  const wechatNo = () => `${Date.now()}${randomBytes(6).toString('hex')}`;
  const record = (inOut: FundFlow['inOut'], amountFen: number, voucherNo: string, business: string) => {
    balanceFen += inOut === '收入' ? amountFen : -amountFen;
    const flow: FundFlow = { at: deps.now(), wechatNo: wechatNo(), flowNo: wechatNo(), business, inOut, amountFen, balanceFen, voucherNo, remark: business };
    deps.journal.addFlow(flow);
    flows.push(flow);
  };

  return {
    config, faults, flows, calls, take,
    get balanceFen() { return balanceFen; },
    counted(api: string) { calls.set(api, (calls.get(api) ?? 0) + 1); },
    /** Pays `amountFen` to `openid` under request number `voucherNo`: a fail reason, or undefined when paid. */
    pay(openid: string, amountFen: number, voucherNo: string, business: string): string | undefined {
      if (paid.has(voucherNo)) return undefined;
      const failure = faults.failOpenids[openid];
      if (failure) return failure;
      const day = `${chinaTime(deps.now()).slice(0, 10)}/${openid}`;
      if ((receivedToday.get(day) ?? 0) + amountFen > config.userDailyLimitFen) return 'DAY_RECEIVED_QUOTA_EXCEED';
      if (amountFen > balanceFen) return 'NOT_ENOUGH';
      receivedToday.set(day, (receivedToday.get(day) ?? 0) + amountFen);
      record('支出', amountFen, voucherNo, business);
      paid.add(voucherNo);
      return undefined;
    },
    /** A payment that failed after it succeeded: the money comes back to the merchant. */
    refund(amountFen: number, voucherNo: string, business: string) {
      if (refunded.has(voucherNo)) return;
      record('收入', amountFen, voucherNo, `${business}退回`);
      refunded.add(voucherNo);
    },
    topUp(amountFen: number) {
      record('收入', amountFen, `topup${deps.now()}`, '充值');
    },
    newId: wechatNo,
  };
}
export type Merchant = ReturnType<typeof createMerchant>;
