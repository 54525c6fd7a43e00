-- Campaign refund $1, locked: the outcomes of its parts are applied one after the other, so the last
-- one sees every other and sets the refund's final state.
select refund_id, state from campaign_refunds where refund_id = $1 for update
