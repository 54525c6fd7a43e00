-- The oldest queued transfers, up to $1, locked for batch forming (skipping any another worker
-- holds), with what forming decides on: when the person (user_id: <app_id>:<user_id>) linked WeChat
-- and their other transfers on their way or paid in the last 24 hours and the last hour (the risk
-- checks), whether a person approved it in review, and the real name they gave, sealed (or null).
select t.payout_id, t.request_no, t.user_id, t.amount_fen, t.created_at, t.approved, w.linked_at, w.real_name_enc,
  (select count(*) from payout_transfers o where o.user_id = t.user_id and o.state in ('batched', 'succeeded') and o.created_at > now() - interval '1 day') as day_count,
  (select coalesce(sum(o.amount_fen), 0) from payout_transfers o where o.user_id = t.user_id and o.state in ('batched', 'succeeded') and o.created_at > now() - interval '1 day') as day_fen,
  (select count(*) from payout_transfers o where o.user_id = t.user_id and o.state in ('batched', 'succeeded') and o.created_at > now() - interval '1 hour') as hour_count
from payout_transfers t join wechat_links w using (user_id)
where t.state = 'queued'
order by t.created_at
limit $1
for update of t skip locked
