-- The state and parameters of batch $1 and its transfers, in request-number order (so a resubmission
-- sends the same body), with the payee's real name where the transfer carries one (sealed).
select b.state as batch_state, b.params, t.request_no, t.amount_fen, t.openid_enc, t.user_name_enc, t.state
from payout_batches b join payout_transfers t using (batch_no)
where b.batch_no = $1
order by t.request_no
