-- Binds campaigns $2 (text[]) to advertiser $1, creating a campaign's row where it has none. A
-- campaign bound to another advertiser is left as it is and not returned: the caller refuses it.
insert into campaigns (campaign_id, advertiser_id)
select c, $1 from unnest($2::text[]) as c
on conflict (campaign_id) do update set advertiser_id = excluded.advertiser_id, updated_at = now()
  where campaigns.advertiser_id is null or campaigns.advertiser_id = excluded.advertiser_id
returning campaign_id
