-- Batch $1's transfer bills sent with an authorization (no confirm page): request number, authorization_id.
select request_no, authorization_id from payout_transfers where batch_no = $1 and authorization_id <> ''
