-- Person $1's (<app_id>:<user_id>) WeChat link (sealed openid and its MAC) and their no-confirmation
-- authorization request, if any; same_openid: it was made for the openid linked now.
select w.openid_enc, w.openid_mac, a.out_authorization_no, a.openid_mac = w.openid_mac as same_openid, a.authorization_id, a.state, a.package_info
from wechat_links w left join payout_authorizations a on a.person = w.user_id
where w.user_id = $1
