-- New payout requests and their first history entry: $1 payout ids, $2 persons (<app_id>:<user_id>), $3 amounts,
-- $4 currencies, $5 sources, $6 idempotency keys.
with created as (
  insert into payouts (payout_id, user_id, amount_fen, currency, source, idempotency_key)
  select * from unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
  returning payout_id, amount_fen, source
)
insert into payout_events (payout_id, state, detail)
select payout_id, 'requested', jsonb_build_object('amount_fen', amount_fen, 'source', source) from created
