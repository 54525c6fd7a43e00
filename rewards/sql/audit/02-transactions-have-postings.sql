-- Every transaction has at least two postings.
select t.transaction_id as id, count(p.posting_id) as postings
from transactions t left join postings p using (transaction_id)
group by t.transaction_id having count(p.posting_id) < 2
