-- Person $1's (<app_id>:<user_id>) transfer bills waiting for their confirmation (WeChat's last word
-- WAIT_USER_CONFIRM or TRANSFERING, no cancel asked for), oldest first: what the app needs to open
-- WeChat's confirm page. package_info is null when none is stored or it is older than $2 ms (a fresh
-- one is then fetched). formed_at: when its batch was formed (the bill was created after). A bill sent
-- with the user's authorization (authorization_id; PAYOUTS_BILL_CONFIRM_MODE=authorized) has no page: not listed.
select t.payout_id, t.request_no, t.batch_no, t.amount_fen, t.openid_enc, b.created_at as formed_at,
  case when t.package_at >= now() - make_interval(secs => $2::double precision / 1000) then t.package_info end as package_info
from payout_transfers t join payout_batches b using (batch_no)
where t.user_id = $1 and t.state = 'batched' and b.api = 'v3_bill' and t.cancel_requested_at is null
  and t.provider_state in ('WAIT_USER_CONFIRM', 'TRANSFERING') and coalesce(t.authorization_id, '') = ''
order by t.created_at
limit 100
