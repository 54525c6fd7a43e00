-- Transfers waiting for their person's real name (awaiting_name) whose person has given one since
-- (wechat_links.real_name_enc, set through the rewards API) go back to the queue, with history
-- 'name_added'. Forming snapshots the name. No parameters.
with t as (
  update payout_transfers t set state = 'queued', fail_reason = null, updated_at = now()
  from wechat_links w
  where t.state = 'awaiting_name' and w.user_id = t.user_id and w.real_name_enc is not null
  returning t.payout_id
)
insert into payout_transfer_events (payout_id, state) select payout_id, 'name_added' from t
