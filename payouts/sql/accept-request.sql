-- Takes up payout requests not taken up yet (no transfer): payout $1, or (when $1 is null) the oldest $2. Each
-- gets its transfer, with request number = the payout id without dashes and the user's sealed
-- openid (wechat_links by person, <app_id>:<user_id>), and the 'accepted' history entry. Nothing on a repeat.
with p as (
  select p.payout_id, p.user_id, p.amount_fen, w.openid_enc
  from payouts p join wechat_links w using (user_id)
  where p.state = 'requested' and ($1::uuid is null or p.payout_id = $1::uuid)
    and not exists (select 1 from payout_transfers t where t.payout_id = p.payout_id)
  order by p.created_at
  limit $2
), t as (
  insert into payout_transfers (payout_id, request_no, user_id, amount_fen, openid_enc)
  select payout_id, replace(payout_id::text, '-', ''), user_id, amount_fen, openid_enc from p
  on conflict do nothing
  returning payout_id
)
insert into payout_transfer_events (payout_id, state) select payout_id, 'accepted' from t
