-- The transfers reconciliation of China day $2 looks at: those a voucher in $1 names (request number
-- or WeChat id); those the provider paid on day $2 by our record (paid_that_day); and transfer bills
-- that failed 2 to 7 days before whose money, by the flows kept, has not come back. With each: its
-- product, and the China day its failure was recorded (failed_on).
with bounds as (
  select ($2::date::timestamp at time zone 'Asia/Shanghai') as day_from, (($2::date + 1)::timestamp at time zone 'Asia/Shanghai') as day_to
), paid as (
  select distinct e.payout_id from payout_transfer_events e, bounds b
  where e.state = 'provider_succeeded' and e.at >= b.day_from and e.at < b.day_to
), unreturned as (
  select distinct e.payout_id from payout_transfer_events e
  join payout_transfers t on t.payout_id = e.payout_id
  join payout_batches pb on pb.batch_no = t.batch_no, bounds b
  where e.state = 'provider_failed' and e.at >= b.day_from - interval '7 days' and e.at < b.day_to - interval '2 days'
    and pb.api = 'v3_bill' and t.state = 'failed'
    and (select coalesce(sum(case when f.in_out = 'out' then f.amount_fen else -f.amount_fen end), 0)
         from operating_flows f where f.voucher_no in (t.request_no, t.provider_id)) > 0
)
select t.request_no, coalesce(t.provider_id, '') as provider_id, coalesce(t.batch_no, '') as batch_no, coalesce(pb.api, '') as api,
  t.amount_fen, t.state, t.payout_id in (select payout_id from paid) as paid_that_day,
  (select to_char(max(e.at) at time zone 'Asia/Shanghai', 'YYYY-MM-DD') from payout_transfer_events e
   where e.payout_id = t.payout_id and e.state = 'provider_failed') as failed_on
from payout_transfers t
left join payout_batches pb on pb.batch_no = t.batch_no
where t.request_no = any($1::text[]) or t.provider_id = any($1::text[])
  or t.payout_id in (select payout_id from paid) or t.payout_id in (select payout_id from unreturned)
