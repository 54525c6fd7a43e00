-- Records what WeChat showed of person $1's authorization request $2 (for openid MAC $3): its
-- authorization_id $4, state $5, package $6 ('' when the answer had none: a stored one is kept). A new
-- request number replaces the old request. For the same number, AUTHORIZED never goes back to waiting.
insert into payout_authorizations (person, out_authorization_no, openid_mac, authorization_id, state, package_info)
values ($1, $2, $3, nullif($4, ''), $5, nullif($6, ''))
on conflict (person) do update set
  out_authorization_no = excluded.out_authorization_no, openid_mac = excluded.openid_mac,
  authorization_id = case when payout_authorizations.out_authorization_no = excluded.out_authorization_no
    then coalesce(excluded.authorization_id, payout_authorizations.authorization_id) else excluded.authorization_id end,
  state = case when payout_authorizations.out_authorization_no = excluded.out_authorization_no and payout_authorizations.state = 'AUTHORIZED'
    and excluded.state = 'WAIT_USER_CONFIRM' then payout_authorizations.state else excluded.state end,
  package_info = case when payout_authorizations.out_authorization_no = excluded.out_authorization_no
    then coalesce(excluded.package_info, payout_authorizations.package_info) else excluded.package_info end,
  updated_at = now()
