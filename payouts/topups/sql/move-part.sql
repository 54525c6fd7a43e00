-- Moves refund part $1 from state $2 to $3 on WeChat's word, guarded by the state the caller read
-- (no row returned when another worker moved it first). $4 WeChat's status word or refusal code,
-- $5 WeChat's refund id, $6 reason, $7 when it succeeded; null keeps what is there. A part still in
-- flight is looked at again in $8 ms; one in attention as ABNORMAL (until a person handles it) in $9 ms.
update topup_refunds set state = $3, provider_state = coalesce($4, provider_state), wechat_refund_id = coalesce($5, wechat_refund_id),
  reason = coalesce($6, reason), succeeded_at = coalesce($7, succeeded_at),
  next_poll_at = case
    when $3 in ('created', 'processing') then now() + make_interval(secs => $8::double precision / 1000)
    when $3 = 'attention' and coalesce($6, reason) = 'ABNORMAL' then now() + make_interval(secs => $9::double precision / 1000)
    else next_poll_at end,
  updated_at = now()
where out_refund_no = $1 and state = $2
returning state
