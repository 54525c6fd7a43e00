-- Order $1, unpaid past its expiry, is to be closed: closing (committed before the close call), and
-- looked at again in $2 ms should the close or its query not finish. Only from created or open.
update topup_orders set state = 'closing', next_poll_at = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
where out_trade_no = $1 and state in ('created', 'open')
returning state
