-- The order advertiser-owner of campaign $1 made under Idempotency-Key $2 (when $3 is not null, only
-- if the campaign is advertiser $3's): the repeat of a create that raced the first.
select o.*, false as fresh from topup_orders o join campaign_advertisers c on c.advertiser_id = o.advertiser_id
where c.campaign_id = $1 and ($3::text is null or c.advertiser_id = $3) and o.idempotency_key = $2
