-- Final parts of campaign refunds whose outcome the ledger has not posted (a hand-off lost in a
-- crash), up to $4, oldest first. The ledger's key is $1 || out_refund_no || $3 for a settle
-- (idempotencyKey('refund_settle', no)), $2 || out_refund_no || $3 for a release.
select out_refund_no, state from topup_refunds p
where p.refund_id is not null and p.state in ('succeeded', 'failed')
  and not exists (select from transactions t
    where t.idempotency_key = (case p.state when 'succeeded' then $1 else $2 end) || p.out_refund_no || $3)
order by p.updated_at
limit $4
