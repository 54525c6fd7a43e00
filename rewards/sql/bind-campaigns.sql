-- Binds campaigns $2 (text[]) to advertiser $1. A campaign bound to another advertiser is left as it
-- is and not returned: the caller refuses it.
insert into campaign_funding (campaign_id, advertiser_id)
select c, $1 from unnest($2::text[]) as c
on conflict (campaign_id) do update set updated_at = now()
  where campaign_funding.advertiser_id = excluded.advertiser_id
returning campaign_id
