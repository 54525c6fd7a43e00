-- The aggregator's flags on persons, as their earnings of the last $2 days carried them
-- (earnings.user_flags, space-separated): $1 person keys.
select user_id, string_agg(distinct user_flags, ' ') as flags
from earnings
where user_id = any($1) and user_flags <> '' and day >= current_date - $2::int
group by user_id
