-- No user balance (available, held, paid out) and no campaign budget is below zero, by the journal.
select a.account_id as id, a.type, a.owner, coalesce(sum(p.credit) - sum(p.debit), 0) as balance
from accounts a left join postings p using (account_id)
where a.no_overdraft and a.normal = 'credit'
group by a.account_id having coalesce(sum(p.credit) - sum(p.debit), 0) < 0
