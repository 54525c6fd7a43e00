-- Splits campaign refund $1 (requested, not split before) over its campaign's paid orders, newest
-- paid first (success_time is to the second: among equals, the newer order), each part at most what
-- the order still carries (paid_fen less its parts not failed).
-- Part numbers: the refund id's 32 hex digits + a 2-digit part index. Parts are created, and looked
-- at by the sweep in $2 ms (sent again if still created). What the orders cannot carry becomes one
-- more part against the newest paid order (or the newest one paid at all), failed with reason
-- no_refundable_order: never sent, its money released. Run under lock-campaign-refunds.sql.
with r as (
  select refund_id, campaign_id, amount_fen, replace(refund_id::text, '-', '') as hex from campaign_refunds
  where refund_id = $1 and state = 'requested' and not exists (select from topup_refunds p where p.refund_id = $1)
), carried as (
  select o.out_trade_no, o.paid_at, o.created_at,
    o.paid_fen - coalesce((select sum(x.amount_fen) from topup_refunds x where x.out_trade_no = o.out_trade_no and x.state <> 'failed'), 0) as left_fen
  from topup_orders o join r using (campaign_id)
  where o.state = 'paid'
), ranked as (
  select out_trade_no, left_fen, row_number() over w as i, sum(left_fen) over w - left_fen as before_fen
  from carried where left_fen > 0
  window w as (order by paid_at desc nulls last, created_at desc, out_trade_no desc)
), parts as (
  select ranked.out_trade_no, ranked.i, least(ranked.left_fen, r.amount_fen - ranked.before_fen) as amount_fen
  from ranked, r where ranked.before_fen < r.amount_fen
), short as (
  select r.amount_fen - coalesce((select sum(amount_fen) from parts), 0) as fen, (select count(*) from parts) as n from r
), newest as (
  select o.out_trade_no from topup_orders o join r using (campaign_id)
  where o.paid_fen is not null
  order by o.state = 'paid' desc, o.paid_at desc nulls last, o.created_at desc, o.out_trade_no desc
  limit 1
)
insert into topup_refunds (out_refund_no, out_trade_no, refund_id, amount_fen, state, reason, next_poll_at)
select r.hex || lpad((p.i - 1)::text, 2, '0'), p.out_trade_no, r.refund_id, p.amount_fen, 'created', null::text,
  now() + make_interval(secs => $2::double precision / 1000)
from parts p, r
union all
select r.hex || lpad(s.n::text, 2, '0'), n.out_trade_no, r.refund_id, s.fen, 'failed', 'no_refundable_order', null::timestamptz
from r, short s, newest n
where s.fen > 0
