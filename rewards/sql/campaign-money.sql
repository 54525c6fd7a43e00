-- Campaign $1's money in currency $2, from the ledger: the budget's balance; funded (its orders'
-- credits: fund transactions keyed ["topup",<out_trade_no>]); held (its refunds' holds); refunded and
-- released (its refund parts' settles and releases). Each transaction is found by its key or
-- reference through the campaign's own rows, never by a walk of the budget's postings (one per
-- earnings batch). refundable = funded - held + released.
with funded as (
  select coalesce(sum(p.credit), 0) as fen from topup_orders o
  join transactions t on t.idempotency_key = '["topup","' || o.out_trade_no || '"]' and t.kind = 'fund'
  join postings p on p.transaction_id = t.transaction_id and p.credit > 0 and p.currency = $2
  where o.campaign_id = $1
), held as (
  select coalesce(sum(p.debit), 0) as fen from campaign_refunds r
  join transactions t on t.kind = 'refund_hold' and t.reference = r.refund_id::text
  join postings p on p.transaction_id = t.transaction_id and p.debit > 0 and p.currency = $2
  where r.campaign_id = $1
), outcomes as (
  select coalesce(sum(p.debit) filter (where t.kind = 'refund_settle'), 0) as refunded,
    coalesce(sum(p.debit) filter (where t.kind = 'refund_release'), 0) as released
  from campaign_refunds r
  join topup_refunds x on x.refund_id = r.refund_id
  join transactions t on t.kind in ('refund_settle', 'refund_release') and t.reference = x.out_refund_no
  join postings p on p.transaction_id = t.transaction_id and p.debit > 0 and p.currency = $2
  where r.campaign_id = $1
)
select coalesce((select credits - debits from accounts where type = 'campaign_budget' and owner = $1 and currency = $2), 0) as budget_fen,
  funded.fen as funded_fen, held.fen as held_fen, outcomes.refunded as refunded_fen, outcomes.released as released_fen
from funded, held, outcomes
