-- The sweep's orders, up to $2: created, open or closing ones whose next_poll_at passed, and created or
-- open ones unpaid a minute past their expiry. Each one's next_poll_at moves on by $1 ms as it is
-- taken (skip locked), so a sweep running beside this one leaves it alone. Returns each with its
-- state and whether it is past its expiry.
update topup_orders t set next_poll_at = now() + make_interval(secs => $1::double precision / 1000)
from (
  select out_trade_no from topup_orders
  where state in ('created', 'open', 'closing')
    and (next_poll_at <= now() or (state <> 'closing' and expires_at < now() - interval '60 seconds'))
  order by next_poll_at
  limit $2
  for update skip locked
) d
where t.out_trade_no = d.out_trade_no
returning t.out_trade_no, t.state, t.expires_at < now() - interval '60 seconds' as expired
