-- Decides earning $1 (source event id) held for review: $2 'posted' with transaction $3, or
-- 'refused' ($3 null). Only from 'review' (the earnings trigger allows nothing else); returns the row
-- when it moved.
update earnings set status = $2, transaction_id = $3::bigint, reviewed_at = now()
where source_event_id = $1::uuid and status = 'review'
returning earning_id
