-- Moves batch $1 to state $2 with the provider's batch id $3 (kept when null) and detail $4.
update payout_batches set state = $2, provider_batch_id = coalesce($3, provider_batch_id), detail = $4, updated_at = now()
where batch_no = $1 and state <> 'finished'
