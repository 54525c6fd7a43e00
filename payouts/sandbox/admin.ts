// The sandbox's admin routes (served on the admin listener only, server.ts): faults, products, a
// top-up, the business clock, the user's confirm tap, the payer who pays an order, the merchant who
// handles an abnormal refund, and the state a test or the demo checks.
import type { Notifier } from './callbacks.js';
import { products, type Faults, type Merchant, type Product } from './merchant.js';
import { payOrder, type PayerKeys } from './payer.js';
import type { Clock } from './timers.js';
import { chinaTime } from './timers.js';
import type { Trades } from './trades.js';
import type { V3Reply } from './v3-auth.js';

type Json = Record<string, unknown>;

type Taps = { confirm(no: string): V3Reply; confirmPackage(pkg: string): V3Reply };

export function createAdmin(deps: {
  merchant: Merchant;
  bills: Taps & { lockedFen(): number };
  authorizations?: Taps;
  notifier: Notifier;
  clock: Clock;
  trades?: Trades;
  payerKeys?: PayerKeys;
}) {
  const { merchant, clock } = deps;
  const clockView = () => ({
    offsetMs: clock.offsetMs,
    now: chinaTime(clock.now()),
    day: chinaTime(clock.now()).slice(0, 10),
  });
  return (route: string, body: string): [number, unknown] => {
    const input = () => JSON.parse(body || '{}') as Json;
    if (route === 'POST /sandbox/faults') {
      Object.assign(merchant.faults, input() as Partial<Faults>);
      return [200, merchant.faults];
    }
    if (route === 'POST /sandbox/topup') {
      // {"amountFen": n}: into the basic account, then moved to the operating one ("move": false keeps it in basic).
      const { amountFen, move } = input();
      merchant.topUp(Number(amountFen ?? 0), move !== false);
      return [200, { balanceFen: merchant.balanceFen, basicBalanceFen: merchant.basicBalanceFen }];
    }
    // {"amountFen": n}: out of the basic account (to the merchant's bank), so refunds can find it short.
    if (route === 'POST /sandbox/withdraw') {
      if (!merchant.withdraw(Number(input().amountFen)))
        return [400, { error: 'amountFen must be a positive integer no larger than the basic balance' }];
      return [200, { balanceFen: merchant.balanceFen, basicBalanceFen: merchant.basicBalanceFen }];
    }
    // {"products": ["v3_bill"]}: the products the merchant has from now on; the others answer NO_AUTH.
    if (route === 'POST /sandbox/products') {
      const list = input().products;
      if (!Array.isArray(list) || list.some((p) => !products.includes(p as Product)))
        return [400, { error: `products must be a list of ${products.join(', ')}` }];
      merchant.setProducts(list as Product[]);
      return [200, { products: merchant.products }];
    }
    // {"offsetMs": n}: the business clock runs n ms ahead of real time (money movements, bill days).
    if (route === 'POST /sandbox/clock') {
      const offsetMs = Number(input().offsetMs);
      if (!Number.isSafeInteger(offsetMs)) return [400, { error: 'offsetMs must be an integer' }];
      clock.set(offsetMs);
      return [200, clockView()];
    }
    // {"package": ".."}: the tap on the page the user's app opened with a listed package.
    // The user's one authorize tap (免确认收款授权): {"package": ".."}, or by out_authorization_no.
    const authorize = /^POST \/sandbox\/authorizations\/(?:([^/]+)\/)?confirm$/.exec(route);
    if (authorize && deps.authorizations) {
      const reply = authorize[1]
        ? deps.authorizations.confirm(authorize[1])
        : deps.authorizations.confirmPackage(String(input().package ?? ''));
      return [reply.status, reply.body];
    }
    if (route === 'POST /sandbox/transfer-bills/confirm') {
      const reply = deps.bills.confirmPackage(String(input().package ?? ''));
      return [reply.status, reply.body];
    }
    const confirm = /^POST \/sandbox\/transfer-bills\/([^/]+)\/confirm$/.exec(route);
    if (confirm) {
      const reply = deps.bills.confirm(confirm[1]!);
      return [reply.status, reply.body];
    }
    // The payer: {out_trade_no | code_url | prepay_id | jsapi, openid?, after_close?} pays the order.
    if (route === 'POST /sandbox/pay' && deps.trades && deps.payerKeys)
      return payOrder(deps.trades, input(), deps.payerKeys);
    // The merchant handles an ABNORMAL refund on the merchant platform: SUCCESS, notified; other statuses 409.
    const handle = /^POST \/sandbox\/refunds\/([^/]+)\/handle-abnormal$/.exec(route);
    if (handle && deps.trades) {
      const refund = deps.trades.refunds.get(decodeURIComponent(handle[1]!));
      if (!refund) return [404, { error: 'RESOURCE_NOT_EXISTS' }];
      const status = deps.trades.handleAbnormal(refund);
      return status ? [409, { error: 'NOT_ABNORMAL', status }] : [200, refund];
    }
    // An order as the sandbox holds it, with its trade_state and refunds; a refund as held.
    const shown = /^GET \/sandbox\/(orders|refunds)\/([^/]+)$/.exec(route);
    if (shown && deps.trades) {
      const no = decodeURIComponent(shown[2]!);
      if (shown[1] === 'refunds') {
        const refund = deps.trades.refunds.get(no);
        return refund ? [200, refund] : [404, { error: 'RESOURCE_NOT_EXISTS' }];
      }
      const order = deps.trades.orders.get(no);
      return order
        ? [200, { ...order, trade_state: deps.trades.tradeState(order), refunds: deps.trades.refundsOf(no) }]
        : [404, { error: 'ORDER_NOT_EXIST' }];
    }
    if (route === 'GET /sandbox/state') {
      // paidFen: what reached users, net of refunds; money locked for bills not yet paid is lockedFen.
      const lockedFen = deps.bills.lockedFen();
      return [
        200,
        {
          balanceFen: merchant.balanceFen,
          basicBalanceFen: merchant.basicBalanceFen,
          paidFen: merchant.netPaidFen - lockedFen,
          lockedFen,
          flows: merchant.flows.length,
          calls: Object.fromEntries(merchant.calls),
          callbacks: deps.notifier.delivered,
          faults: merchant.faults,
          products: merchant.products,
          clock: clockView(),
          ...(deps.trades ? { payIn: payInState(deps.trades) } : {}),
        },
      ];
    }
    return [404, { error: 'unknown sandbox admin route' }];
  };
}

/** Orders by trade state, money paid in, refunded (SUCCESS) and gone ABNORMAL, in fen. */
function payInState(trades: Trades) {
  const orders = [...trades.orders.values()];
  const refunds = [...trades.refunds.values()];
  const fen = (status: string) => refunds.filter((r) => r.status === status).reduce((n, r) => n + r.amountFen, 0);
  const states: Record<string, number> = {};
  for (const o of orders) states[trades.tradeState(o)] = (states[trades.tradeState(o)] ?? 0) + 1;
  return {
    orders: states,
    paidFen: orders.filter((o) => o.state === 'SUCCESS').reduce((n, o) => n + o.totalFen, 0),
    refundedFen: fen('SUCCESS'),
    abnormalFen: fen('ABNORMAL'),
    refunds: refunds.length,
  };
}
