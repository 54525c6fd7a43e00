-- Campaign refunds requested at least $1 ms ago and not split into parts yet (their job lost), up to $2.
select refund_id from campaign_refunds c
where state = 'requested' and created_at < now() - make_interval(secs => $1::double precision / 1000)
  and not exists (select from topup_refunds p where p.refund_id = c.refund_id)
order by created_at
limit $2
