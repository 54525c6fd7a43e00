-- The transfers a day's bill names ($1 request numbers), and those the provider paid, by our record,
-- on China calendar day $2; paid_that_day tells the second kind.
with paid as (
  select distinct payout_id from payout_events
  where state = 'provider_succeeded'
    and at >= ($2::date::timestamp at time zone 'Asia/Shanghai') and at < (($2::date + 1)::timestamp at time zone 'Asia/Shanghai')
)
select t.request_no, t.batch_no, t.amount_fen, t.state, t.payout_id in (select payout_id from paid) as paid_that_day
from payout_transfers t
where t.request_no = any($1::text[]) or t.payout_id in (select payout_id from paid)
