-- The reward rules of campaigns $1, every version (an earning uses the one in effect when verified).
select campaign_id, (extract(epoch from effective_from) * 1000)::bigint as effective_from_ms, currency,
  reward_complete_fen, conversion_fen, user_daily_cap_fen, fee_bps
from reward_rules where campaign_id = any ($1::text[])
