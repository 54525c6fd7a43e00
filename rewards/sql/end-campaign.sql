-- Ends campaign $1 now (an earlier end stays): its unspent budget may be refunded from then on.
update campaigns set ends_at = least(coalesce(ends_at, now()), now()), updated_at = now() where campaign_id = $1
returning ends_at
