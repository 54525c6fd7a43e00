-- Transfers of the per-transfer products (transfer bills, v2) in flight whose next query is due, up
-- to $2, oldest due first: next_poll_at has passed, or, never recorded (a crash between the call and
-- its record), their batch has been idle for $1 ms. With each: its payout, its person (user_id,
-- <app_id>:<user_id>), WeChat's last state word, whether a cancel was asked for, and when it fell due
-- (unix ms). Two branches, so each can use the partial index on next_poll_at.
select * from (
  select t.batch_no, t.request_no, t.payout_id, t.user_id, t.provider_state, t.cancel_requested_at is not null as cancel_requested,
    (extract(epoch from t.next_poll_at) * 1000)::bigint as due_ms
  from payout_transfers t join payout_batches b using (batch_no)
  where t.state = 'batched' and t.next_poll_at <= now() and b.state = 'submitted' and b.api <> 'v3_batch'
  union all
  select t.batch_no, t.request_no, t.payout_id, t.user_id, t.provider_state, t.cancel_requested_at is not null,
    (extract(epoch from b.updated_at) * 1000)::bigint
  from payout_transfers t join payout_batches b using (batch_no)
  where t.state = 'batched' and t.next_poll_at is null and b.state = 'submitted' and b.api <> 'v3_batch'
    and b.updated_at < now() - make_interval(secs => $1::double precision / 1000)
) due
order by due_ms
limit $2
