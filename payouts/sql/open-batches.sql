-- Batches whose job may have been lost or whose next query is due: formed ones untouched for $1 ms
-- (submit them), and submitted ones not queried for $2 ms (query them): v3 batches, which are
-- queried whole, and batches of the per-transfer products with no transfer in flight left (a crash
-- between the last record and the batch's move; their transfers are queried one by one, due-bills.sql).
-- updated_at tells the idle time.
select batch_no, state, (extract(epoch from updated_at) * 1000)::bigint as touched_ms from payout_batches b
where (state = 'formed' and updated_at < now() - make_interval(secs => $1::double precision / 1000))
   or (state = 'submitted' and updated_at < now() - make_interval(secs => $2::double precision / 1000)
     and (api = 'v3_batch' or not exists (select 1 from payout_transfers t where t.batch_no = b.batch_no and t.state = 'batched')))
order by updated_at
limit 1000
