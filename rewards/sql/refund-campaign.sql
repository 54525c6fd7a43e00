-- Campaign $1 for a refund request: its advertiser and whether it has ended (ends_at <= now()). The
-- row is share-locked, so its advertiser cannot change under the request.
select campaign_id, advertiser_id, ends_at, ends_at is not null and ends_at <= now() as ended
from campaign_funding where campaign_id = $1 for share
