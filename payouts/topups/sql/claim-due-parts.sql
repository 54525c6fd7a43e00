-- The sweep's refund parts, up to $2: created or processing ones whose next_poll_at passed. Each
-- one's next_poll_at moves on by $1 ms as it is taken (skip locked). Returns each with its state.
update topup_refunds t set next_poll_at = now() + make_interval(secs => $1::double precision / 1000)
from (
  select out_refund_no from topup_refunds
  where state in ('created', 'processing') and next_poll_at <= now()
  order by next_poll_at
  limit $2
  for update skip locked
) d
where t.out_refund_no = d.out_refund_no
returning t.out_refund_no, t.state
