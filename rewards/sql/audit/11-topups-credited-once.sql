-- Every paid top-up order is credited once: each order in state paid (or resolved credit by a person)
-- has exactly one fund transaction keyed ["topup",<out_trade_no>], of what WeChat said was paid (paid_fen) and its currency, from
-- its advertiser's funding to its campaign's budget; an order in any other state has none; and no
-- top-up credit is without its order. A paid order may wait 60 s for its credit (the hand-off in flight).
with credits as (
  select t.transaction_id, substring(t.idempotency_key from '^\["topup","([A-Za-z0-9]+)"\]$') as out_trade_no, t.idempotency_key,
    count(*) as postings, min(a.currency) as currency, max(a.currency) as currency_max,
    coalesce(sum(p.credit) filter (where a.type = 'campaign_budget'), 0) as credited_fen,
    coalesce(sum(p.debit) filter (where a.type = 'advertiser_funding'), 0) as debited_fen,
    min(a.owner) filter (where a.type = 'campaign_budget' and p.credit > 0) as campaign_id,
    min(a.owner) filter (where a.type = 'advertiser_funding' and p.debit > 0) as advertiser_id
  from transactions t join postings p using (transaction_id) join accounts a using (account_id)
  where t.kind = 'fund' and t.idempotency_key like '["topup",%'
  group by t.transaction_id
)
select coalesce(o.out_trade_no, c.out_trade_no, c.idempotency_key) as id, o.state, o.resolution, o.paid_fen,
  count(c.transaction_id) as credits, sum(c.credited_fen) as credited_fen
from topup_orders o
full join credits c on c.out_trade_no = o.out_trade_no
group by o.out_trade_no, c.out_trade_no, c.idempotency_key, o.state, o.resolution, o.paid_fen, o.updated_at
having o.out_trade_no is null
  or ((o.state = 'paid' or o.resolution is not distinct from 'credit') and not (
    (count(c.transaction_id) = 0 and o.updated_at > now() - interval '60 seconds')
    or (count(c.transaction_id) = 1 and bool_and(c.postings = 2 and c.credited_fen = o.paid_fen and c.debited_fen = o.paid_fen
      and c.currency = o.currency and c.currency_max = o.currency and c.campaign_id = o.campaign_id and c.advertiser_id = o.advertiser_id))))
  or (not (o.state = 'paid' or o.resolution is not distinct from 'credit') and count(c.transaction_id) > 0)
