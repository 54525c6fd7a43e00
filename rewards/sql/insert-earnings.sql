-- Records earnings: $1 ids, $2 source event ids, $3 apps, $4 persons (<app_id>:<user_id>), $5 campaigns,
-- $6 types, $7 event times (ms), $8 verified times (ms), $9 days, $10 statuses (posted | refused |
-- review), $11 reasons, $12 amounts, $13 fees, $14 transaction ids (null unless posted),
-- $15 confirmations, $16 device ids, $17 person flags (space-separated).
insert into earnings (earning_id, source_event_id, app_id, user_id, campaign_id, type, event_time, verified_at,
  day, status, reason, amount_fen, fee_fen, transaction_id, confirmation, device_id, user_flags)
select id, source, app, usr, campaign, type, to_timestamp(event_ms / 1000.0), to_timestamp(verified_ms / 1000.0),
  day, status, reason, amount, fee, tx, confirmation, device, flags
from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
  $9::date[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::text[])
  as e (id, source, app, usr, campaign, type, event_ms, verified_ms, day, status, reason, amount, fee, tx, confirmation, device, flags)
