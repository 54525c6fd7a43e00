-- Batches not finished whose last change is older than $1 ms: formed ones to submit, submitted
-- ones to query (each in case its job was lost).
select batch_no, state from payout_batches
where state in ('formed', 'submitted') and updated_at < now() - make_interval(secs => $1::double precision / 1000)
order by updated_at
limit 100
