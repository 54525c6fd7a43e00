-- Fixes, before their first send, how batch $1's transfer bills not yet decided are sent: in authorized
-- mode ($2 true) with the person's AUTHORIZED authorization, when it was made for the very openid the
-- transfer pays (its link unchanged since the transfer was taken up); else '' (an ordinary bill, the
-- confirm page). Decided once, so every retry sends the same request.
update payout_transfers t set authorization_id = case when $2::boolean then coalesce((
    select a.authorization_id from payout_authorizations a join wechat_links w on w.user_id = a.person
    where a.person = t.user_id and a.state = 'AUTHORIZED' and a.authorization_id is not null
      and w.openid_mac = a.openid_mac and w.openid_enc = t.openid_enc), '') else '' end
where t.batch_no = $1 and t.authorization_id is null
