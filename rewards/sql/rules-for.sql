-- The campaigns $1: the app that owns each (null: none, or no campaign row), and every version of its
-- reward rule (an earning uses the one in effect when verified); one row per rule, or one with null
-- rule columns for a campaign without rules.
select k.campaign_id, c.app_id, (extract(epoch from r.effective_from) * 1000)::bigint as effective_from_ms, r.currency,
  r.reward_complete_fen, r.conversion_fen, r.user_daily_cap_fen, r.fee_bps
from unnest($1::text[]) as k (campaign_id)
left join campaign_apps c on c.campaign_id = k.campaign_id
left join reward_rules r on r.campaign_id = k.campaign_id
