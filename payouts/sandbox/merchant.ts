// The sandbox merchant: its two accounts (BASIC, where top-ups and payments land and refunds leave,
// and OPERATION, which every transfer API pays from), the fund flow of each (what the bills are made
// from), the products it may use, and the faults a test or the demo has asked for.
import { randomBytes } from 'node:crypto';
import { noFaults, takeFault } from './faults.js';
import type { Journal } from './journal.js';
import { chinaTime } from './timers.js';

export type { Faults } from './faults.js';
export type Account = 'BASIC' | 'OPERATION';
export const products = ['v3_bill', 'v3_batch', 'v2_transfer'] as const;
export type Product = (typeof products)[number];

export interface FundFlow {
  at: number;
  wechatNo: string;
  flowNo: string;
  business: string;
  inOut: '收入' | '支出';
  amountFen: number;
  balanceFen: number;
  voucherNo: string;
  remark: string;
  account?: Account;
}
const TOP_UP = '充值';
const MOVE = '内部转账';
/** A payer's payment into BASIC, and a refund of one out of it (pay-in, trades.ts). */
export const TRADE = '交易';
export const TRADE_REFUND = '退款';
/** The merchant takes money out of BASIC (POST /sandbox/withdraw), e.g. to make it short for refunds. */
const WITHDRAW = '提现';
/** A flow's account: journal lines from before accounts read as OPERATION for payouts, BASIC for top-ups. */
export const accountOf = (f: FundFlow): Account => f.account ?? (f.business === TOP_UP ? 'BASIC' : 'OPERATION');
/** A payout's own flows (a debit or its refund), not money moved in. */
const isPayout = (f: FundFlow) => ![TOP_UP, MOVE, TRADE, TRADE_REFUND, WITHDRAW].includes(f.business);

export interface MerchantConfig {
  mchid: string;
  appid: string;
  apiV2Key: string;
  apiV3Key: string;
  balanceFen: number;
  userDailyLimitFen: number;
  products: Product[];
}

export function createMerchant(config: MerchantConfig, deps: { journal: Journal; now(): number }) {
  const flows = deps.journal.flows<FundFlow>();
  // Each account's balance is its last flow's; before accounts, every line was the operating account's.
  const balances: Record<Account, number> = { BASIC: 0, OPERATION: config.balanceFen };
  for (const f of flows) balances[f.account ?? 'OPERATION'] = f.balanceFen;
  // Request numbers debited, and refunded: a transfer resumed after a restart that had paid some of
  // it pays the rest only, and a late failure resumed refunds once.
  const payouts = flows.filter((f) => accountOf(f) === 'OPERATION' && isPayout(f));
  const debited = new Set(payouts.filter((f) => f.inOut === '支出').map((f) => f.voucherNo));
  const refunded = new Set(payouts.filter((f) => f.inOut === '收入').map((f) => f.voucherNo));
  // Orders paid in and refunds paid out (by their numbers): each moves money once, restarts included.
  const trades = new Set(flows.filter((f) => accountOf(f) === 'BASIC' && f.business === TRADE).map((f) => f.voucherNo));
  const tradeRefunds = new Set(
    flows.filter((f) => accountOf(f) === 'BASIC' && f.business === TRADE_REFUND).map((f) => f.voucherNo),
  );
  const receivedToday = new Map<string, number>();
  const faults = noFaults();
  const allowed = new Set<Product>(config.products);
  const calls = new Map<string, number>();
  const topUpListeners: (() => void)[] = [];
  const wechatNo = () => `${Date.now()}${randomBytes(6).toString('hex')}`;
  const record = (
    account: Account,
    inOut: FundFlow['inOut'],
    amountFen: number,
    voucherNo: string,
    business: string,
    remark: string,
  ) => {
    balances[account] += inOut === '收入' ? amountFen : -amountFen;
    const flow: FundFlow = {
      at: deps.now(),
      wechatNo: wechatNo(),
      flowNo: wechatNo(),
      business,
      inOut,
      amountFen,
      balanceFen: balances[account],
      voucherNo,
      remark: faults.billRemark || remark,
      account,
    };
    deps.journal.addFlow(flow);
    flows.push(flow);
  };
  const dayKey = (openid: string) => `${chinaTime(deps.now()).slice(0, 10)}/${openid}`;

  const merchant = {
    config,
    faults,
    flows,
    calls,
    take: (name: Parameters<typeof takeFault>[1]) => takeFault(faults, name),
    /** The operating account's balance: what transfers are paid from. */
    get balanceFen() {
      return balances.OPERATION;
    },
    get basicBalanceFen() {
      return balances.BASIC;
    },
    /** Money paid to users, net of what came back (debits of bills still waiting included). */
    get netPaidFen() {
      return flows
        .filter((f) => accountOf(f) === 'OPERATION' && isPayout(f))
        .reduce((s, f) => s + (f.inOut === '支出' ? f.amountFen : -f.amountFen), 0);
    },
    flowsOf: (account: Account) => flows.filter((f) => accountOf(f) === account),
    counted(api: string) {
      calls.set(api, (calls.get(api) ?? 0) + 1);
    },
    /** Whether the merchant has the product (else NO_AUTH); SANDBOX_PRODUCTS, or POST /sandbox/products. */
    has: (product: Product) => allowed.has(product),
    get products() {
      return [...allowed];
    },
    setProducts(list: Product[]) {
      allowed.clear();
      for (const p of list) allowed.add(p);
    },
    /** Why `openid` cannot receive `amountFen` now (an injected failure, the daily limit), or undefined. */
    refusal(openid: string, amountFen: number): string | undefined {
      const failure = faults.failOpenids[openid];
      if (failure) return failure;
      if ((receivedToday.get(dayKey(openid)) ?? 0) + amountFen > config.userDailyLimitFen)
        return 'DAY_RECEIVED_QUOTA_EXCEED';
      return undefined;
    },
    /** Counts `amountFen` against the user's daily limit. */
    received(openid: string, amountFen: number) {
      receivedToday.set(dayKey(openid), (receivedToday.get(dayKey(openid)) ?? 0) + amountFen);
    },
    /** Takes `amountFen` from the operating account under `voucherNo` (once): 'NOT_ENOUGH', or undefined when taken. */
    debit(amountFen: number, voucherNo: string, business: string, remark: string): 'NOT_ENOUGH' | undefined {
      if (debited.has(voucherNo)) return undefined;
      if (amountFen > balances.OPERATION) return 'NOT_ENOUGH';
      record('OPERATION', '支出', amountFen, voucherNo, business, remark);
      debited.add(voucherNo);
      return undefined;
    },
    isDebited: (voucherNo: string) => debited.has(voucherNo) && !refunded.has(voucherNo),
    /** Pays `amountFen` to `openid` under request number `voucherNo`: a fail reason, or undefined when paid. */
    pay(openid: string, amountFen: number, voucherNo: string, business: string, remark: string): string | undefined {
      if (debited.has(voucherNo)) return undefined;
      const refused = merchant.refusal(openid, amountFen) ?? merchant.debit(amountFen, voucherNo, business, remark);
      if (!refused) merchant.received(openid, amountFen);
      return refused;
    },
    /** Money taken under `voucherNo` comes back (a late failure, a bill closed or cancelled): once, and only if taken. */
    refund(amountFen: number, voucherNo: string, business: string, remark: string) {
      if (!debited.has(voucherNo) || refunded.has(voucherNo)) return;
      record('OPERATION', '收入', amountFen, voucherNo, `${business}退回`, remark);
      refunded.add(voucherNo);
    },
    /** A payer's payment of order `outTradeNo` lands in the basic account (once). */
    tradeIn(amountFen: number, outTradeNo: string, remark: string) {
      if (trades.has(outTradeNo)) return;
      record('BASIC', '收入', amountFen, outTradeNo, TRADE, remark);
      trades.add(outTradeNo);
    },
    /** Refund `outRefundNo` leaves the basic account (once); 'NOT_ENOUGH' when the account is short. */
    tradeRefund(amountFen: number, outRefundNo: string, remark: string): 'NOT_ENOUGH' | undefined {
      if (tradeRefunds.has(outRefundNo)) return undefined;
      if (amountFen > balances.BASIC) return 'NOT_ENOUGH';
      record('BASIC', '支出', amountFen, outRefundNo, TRADE_REFUND, remark);
      tradeRefunds.add(outRefundNo);
      return undefined;
    },
    isTradeRefunded: (outRefundNo: string) => tradeRefunds.has(outRefundNo),
    /** Money out of the basic account to the merchant's bank: false when the account is short. */
    withdraw(amountFen: number): boolean {
      if (!Number.isSafeInteger(amountFen) || amountFen <= 0 || amountFen > balances.BASIC) return false;
      record('BASIC', '支出', amountFen, `withdraw${wechatNo()}`, WITHDRAW, WITHDRAW);
      return true;
    },
    /** A top-up lands in the basic account and is moved to the operating account at once, unless `move` is false. */
    topUp(amountFen: number, move = true) {
      const voucherNo = `topup${wechatNo()}`;
      if (amountFen > 0) record('BASIC', '收入', amountFen, voucherNo, TOP_UP, TOP_UP);
      if (amountFen > 0 && move) {
        record('BASIC', '支出', amountFen, voucherNo, MOVE, '转入运营账户');
        record('OPERATION', '收入', amountFen, voucherNo, MOVE, '基本账户转入');
      }
      for (const fn of topUpListeners) fn();
    },
    /** Runs `fn` after each top-up (transfers waiting for money try again). */
    onTopUp(fn: () => void) {
      topUpListeners.push(fn);
    },
    newId: wechatNo,
  };
  return merchant;
}
export type Merchant = ReturnType<typeof createMerchant>;
