-- The sweep's refund parts, up to $2 of each kind: created or processing ones whose next_poll_at
-- passed, and ABNORMAL ones in attention (a person may have handled them since) whose next_poll_at
-- passed. Each one's next_poll_at moves on as it is taken (skip locked): by $1 ms, or $3 ms for an
-- ABNORMAL one, which only a person changes. Returns each with its state.
with flight as (
  select out_refund_no from topup_refunds
  where state in ('created', 'processing') and next_poll_at <= now()
  order by next_poll_at
  limit $2
  for update skip locked
), abnormal as (
  select out_refund_no from topup_refunds
  where state = 'attention' and reason = 'ABNORMAL' and next_poll_at <= now()
  order by next_poll_at
  limit $2
  for update skip locked
)
update topup_refunds t
set next_poll_at = now() + make_interval(secs => (case when t.state = 'attention' then $3 else $1 end)::double precision / 1000)
from (select out_refund_no from flight union all select out_refund_no from abnormal) d
where t.out_refund_no = d.out_refund_no
returning t.out_refund_no, t.state
