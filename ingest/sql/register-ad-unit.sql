-- Registers an ad unit of a network to an app (idempotent for the same app). Returns the unit's
-- owner as it now is: another app means the unit was already registered to it and nothing changed.
-- $1 network, $2 ad_unit, $3 app_id
with added as (
  insert into ad_units (network, ad_unit, app_id) values ($1, $2, $3) on conflict (network, ad_unit) do nothing returning app_id
)
select app_id from added
union all
select app_id from ad_units where network = $1 and ad_unit = $2 and not exists (select 1 from added)
