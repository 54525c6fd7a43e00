-- Campaign refund $1, and a lock (to the end of the transaction) on splitting the refunds of its
-- campaign, so two refunds of one campaign never both count the same paid fen as refundable.
select r.refund_id, r.campaign_id, r.amount_fen, r.state, pg_advisory_xact_lock(hashtextextended('topup_refunds/' || r.campaign_id, 0))
from campaign_refunds r where r.refund_id = $1
