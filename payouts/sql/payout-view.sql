-- Payout $1 as GET /v1/payouts/{id} shows it: its state (the payout_status view), transfer (with WeChat's last state word) and history (the payout_history view: rewards' entries and this service's, in time order); user_id is the person (<app_id>:<user_id>), split by the caller.
select p.payout_id, p.user_id, p.amount_fen, p.currency, p.source, p.state, p.created_at, p.updated_at,
  t.request_no, t.batch_no, b.api, t.provider_id, t.provider_state, t.fail_reason, t.package_info,
  (select coalesce(jsonb_agg(jsonb_build_object('state', e.state, 'at', e.at, 'detail', e.detail) order by e.at), '[]')
   from payout_history e where e.payout_id = p.payout_id) as history
from payout_status p left join payout_transfers t using (payout_id) left join payout_batches b using (batch_no)
where p.payout_id = $1::uuid
