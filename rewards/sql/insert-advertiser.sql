-- Registers advertiser $1 (again: a no-op).
insert into advertisers (advertiser_id) values ($1) on conflict do nothing
