-- Posted reward per (person, campaign, day) for the triples ($1 persons, $2 campaigns, $3 days). The
-- triples are made distinct first: a repeated one would otherwise count its earnings again.
select e.user_id, e.campaign_id, e.day::text as day, sum(e.amount_fen) as total_fen
from earnings e
join (select distinct * from unnest($1::text[], $2::text[], $3::date[]) as k (user_id, campaign_id, day)) k using (user_id, campaign_id, day)
where e.status = 'posted'
group by 1, 2, 3
