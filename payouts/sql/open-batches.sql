-- Batches whose job may have been lost or whose next query is due: formed ones untouched for $1 ms
-- (submit them), submitted ones not queried for $2 ms (query them). updated_at tells the idle time.
select batch_no, state, (extract(epoch from updated_at) * 1000)::bigint as touched_ms from payout_batches
where (state = 'formed' and updated_at < now() - make_interval(secs => $1::double precision / 1000))
   or (state = 'submitted' and updated_at < now() - make_interval(secs => $2::double precision / 1000))
order by updated_at
limit 1000
