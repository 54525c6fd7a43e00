-- Posted reward per (app, device, day) (the platform's device limit), for the triples ($1 apps,
-- $2 devices, $3 days), made distinct first. Earnings without a device are not in the index.
select e.app_id, e.device_id, e.day::text as day, sum(e.amount_fen) as total_fen
from earnings e
join (select distinct * from unnest($1::text[], $2::text[], $3::date[]) as k (app_id, device_id, day)) k using (app_id, device_id, day)
where e.status = 'posted' and e.device_id <> ''
group by 1, 2, 3
