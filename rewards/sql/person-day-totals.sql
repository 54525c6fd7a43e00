-- Posted reward per (person, day) over every campaign (the platform's user limit), for the pairs
-- ($1 persons, $2 days), made distinct first.
select e.user_id, e.day::text as day, sum(e.amount_fen) as total_fen
from earnings e
join (select distinct * from unnest($1::text[], $2::date[]) as k (user_id, day)) k using (user_id, day)
where e.status = 'posted'
group by 1, 2
