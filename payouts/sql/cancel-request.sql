-- Asks for payout $1's transfer bill to be cancelled, with why ($2, jsonb: who asked, and the
-- signals): marks the transfer (cancel_requested_at, kept from the first request), makes its next
-- query due now (the query makes the cancel while WeChat shows the bill cancellable), and writes the
-- payout's history on the first request only. Only a transfer in flight (batched) moves; returns it
-- with its batch.
with t as (
  update payout_transfers t set cancel_requested_at = coalesce(t.cancel_requested_at, now()), next_poll_at = now(), updated_at = now()
  from payout_transfers old
  where t.payout_id = $1::uuid and t.state = 'batched' and old.payout_id = t.payout_id
  returning t.payout_id, t.request_no, t.batch_no, old.cancel_requested_at is null as first
), history as (
  insert into payout_transfer_events (payout_id, state, detail) select payout_id, 'cancel_requested', $2::jsonb from t where first
)
select request_no, batch_no from t
