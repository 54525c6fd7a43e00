// Operator commands: `npm run payouts -- <command>`.
//   reconcile [yyyy-MM-dd]           reconcile a China calendar day's bills, fund flow and trade (default: yesterday)
//   review approve|reject <payout>   decide on a payout held for review (by the risk checks, or WeChat refused its transfer alone)
//   discrepancies                    list what reconciliation could not explain
//   cancel <payout> [<payout> ...]   cancel transfer bills their users have not confirmed (CANCELLED releases them)
//   topup, topups, topup-resolve, topup-refund-check   advertisers' top-ups and their refunds (topups/cli.ts)
import { exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { stopAll } from '../common/shutdown.js';
import { isUuid } from '../common/name-uuid.js';
import { createPayoutsCore } from './app.js';
import { createPayoutFlow } from './flow.js';
import { payoutsConfig, payoutsSecretRule } from './config.js';
import { chinaYesterday } from './reconcile-pg.js';
import { runTopupCommand, topupUsage } from './topups/cli.js';

const config = loadConfig(payoutsConfig, process.env);
const log = createLogger('payouts-cli', config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
exitOnPublishedSecrets(config, payoutsSecretRule(config));
const [command, ...args] = process.argv.slice(2);
const core = createPayoutsCore(config, { log });
let status = 0;
try {
  await core.ready();
  const topup = await runTopupCommand(command, args, core.topups, (line) => console.log(line));
  if (topup !== undefined) status = topup;
  else if (command === 'reconcile') {
    const day = args[0] ?? chinaYesterday(Date.now());
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`not a day (yyyy-MM-dd): ${day}`);
    const r = await core.reconciler.run(day);
    console.log(
      `${r.day}: ${r.billRows} bill rows, ${r.matched} matched, ${r.locked} locked by bills in flight, ${r.queried} queried, ${r.settled} settled, ${r.released} released, ${r.reversed} reversed, ${r.unexplained.length} unexplained`,
    );
    for (const d of r.unexplained) console.log(`  ${d.kind} ${d.requestNo}: ${d.detail}`);
    const t = r.trade; // the trade bill's part, when a pay-in is configured
    if (t) {
      const byKind = new Map<string, number>();
      for (const d of t.unexplained) byKind.set(d.kind, (byKind.get(d.kind) ?? 0) + 1);
      const kinds = [...byKind].map(([kind, n]) => `${kind} ${n}`).join(', ');
      console.log(
        `${r.day} trade bill: ${t.billRows} rows, ${t.matched} matched, ${t.rechecked} rechecked, ${t.attention} in attention, ${t.unexplained.length} unexplained${kinds ? ` (${kinds})` : ''}`,
      );
      for (const d of t.unexplained) console.log(`  ${d.kind} ${d.requestNo}: ${d.detail}`);
    }
    status = r.unexplained.length + (t?.unexplained.length ?? 0) > 0 ? 1 : 0;
  } else if (command === 'review' && (args[0] === 'approve' || args[0] === 'reject') && args[1]) {
    const state = await core.store.review(args[1], args[0]);
    if (!state) throw new Error(`payout ${args[1]} is not held for review`);
    if (state === 'failed') await core.queued.outcomes([{ payoutId: args[1], outcome: 'release' }]);
    console.log(
      `${args[1]}: ${state === 'queued' ? 'approved, queued for the next batch' : 'rejected, its money goes back to the user'}`,
    );
  } else if (command === 'cancel' && args[0]) {
    const bad = args.find((id) => !isUuid(id));
    if (bad) throw new Error(`not a payout id: ${bad}`);
    const flow = createPayoutFlow(
      { pollMs: config.PAYOUTS_POLL_MS, sweepIdleMs: config.PAYOUTS_SWEEP_MS * 2 },
      { store: core.store, provider: core.provider, queues: core.queued, metrics: core.metrics, log },
    );
    const refused: string[] = [];
    for (const id of args) {
      const r = await flow.cancel(id, { by: 'operator' });
      if (!r.ok) {
        refused.push(
          r.reason === 'unsupported'
            ? `${core.provider.api} transfers cannot be cancelled (transfer bills only)`
            : `payout ${id} has no transfer bill in flight`,
        );
        continue;
      }
      // Only a query's CANCELLED releases the money: the answer to the call only says WeChat took it (or refused it).
      console.log(
        `${id}: cancel asked for, WeChat answered ${r.result.providerState ?? r.result.reason}; the bill is queried until final, and CANCELLED releases the money`,
      );
    }
    if (refused.length > 0) throw new Error(refused.join('\n'));
  } else if (command === 'discrepancies') {
    const open = await core.reconciler.open();
    for (const d of open)
      console.log(`${d.bill_date.toISOString().slice(0, 10)} ${d.kind} ${d.request_no}: ${d.detail}`);
    console.log(`${open.length} unexplained`);
    status = open.length > 0 ? 1 : 0;
  } else {
    console.error(
      `usage: npm run payouts -- reconcile [yyyy-MM-dd] | review approve|reject <payout_id> | discrepancies | cancel <payout_id> [<payout_id> ...] | ${topupUsage}`,
    );
    status = 2;
  }
} catch (err) {
  console.error((err as Error).message);
  status = 1;
} finally {
  await stopAll(core.parts, log);
}
process.exit(status);
