-- Moves batch $1 from state $2 to state $3, with the provider's batch id $4 (kept when null) and
-- detail $5. Returns nothing when the batch is not in $2 (another worker moved it): the caller logs
-- that and changes nothing.
update payout_batches set state = $3, provider_batch_id = coalesce($4, provider_batch_id), detail = $5, updated_at = now()
where batch_no = $1 and state = $2
returning batch_no
