-- Registers web origin $2 for app $1 (again: a no-op). Returns the app when it exists.
with app as (select app_id from apps where app_id = $1),
ins as (insert into app_origins (app_id, origin) select app_id, $2 from app on conflict do nothing)
select app_id from app
