-- Ends campaign $1 now (an earlier end stays): its unspent budget may be refunded from then on. No
-- row when no advertiser is bound to it: it has no budget to refund.
update campaign_funding set ends_at = least(coalesce(ends_at, now()), now()), updated_at = now() where campaign_id = $1
returning ends_at
