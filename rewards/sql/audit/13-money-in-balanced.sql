-- Money in less refunds is what the budgets hold, what refunds hold in flight, and what the budgets
-- paid out, per currency: sum of fund transactions (advertisers' funding debited) - sum of refund
-- settles (funding credited back) = campaign_budget balances + refund_clearing balances + what left
-- the budgets otherwise (earnings, and corrections, net). Budget >= 0 is no-overdrawn-accounts.
with flows as (
  select p.currency,
    coalesce(sum(p.debit - p.credit) filter (where t.kind = 'fund' and a.type = 'advertiser_funding'), 0) as money_in,
    coalesce(sum(p.credit - p.debit) filter (where t.kind = 'refund_settle' and a.type = 'advertiser_funding'), 0) as refunded,
    coalesce(sum(p.debit - p.credit) filter (where t.kind not in ('fund', 'refund_hold', 'refund_release') and a.type = 'campaign_budget'), 0) as earned
  from transactions t join postings p using (transaction_id) join accounts a using (account_id)
  where a.type in ('advertiser_funding', 'campaign_budget')
  group by p.currency
), held as (
  select currency,
    coalesce(sum(credits - debits) filter (where type = 'campaign_budget'), 0) as budgets,
    coalesce(sum(credits - debits) filter (where type = 'refund_clearing'), 0) as refunding
  from accounts where type in ('campaign_budget', 'refund_clearing')
  group by currency
)
select coalesce(f.currency, h.currency) as id, f.money_in, f.refunded, h.budgets, h.refunding, f.earned
from flows f full join held h using (currency)
where coalesce(f.money_in, 0) - coalesce(f.refunded, 0) <> coalesce(h.budgets, 0) + coalesce(h.refunding, 0) + coalesce(f.earned, 0)
