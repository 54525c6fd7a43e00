-- A new version of campaign $1's reward rule, in effect from now: $2 currency, $3 fen per verified
-- REWARD_COMPLETE, $4 fen per attributed CONVERSION, $5 user daily cap (fen, null = none), $6 fee (bps).
insert into reward_rules (campaign_id, currency, reward_complete_fen, conversion_fen, user_daily_cap_fen, fee_bps)
values ($1, $2, $3, $4, $5, $6)
returning effective_from
