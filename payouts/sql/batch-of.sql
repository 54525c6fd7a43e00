-- The batch that carries request number $1.
select batch_no from payout_transfers where request_no = $1 and batch_no is not null
