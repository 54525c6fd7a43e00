-- Every materialised balance equals the sum of its account's postings.
select a.account_id as id, a.type, a.owner, a.debits, a.credits, j.debits as journal_debits, j.credits as journal_credits
from accounts a
left join (select account_id, sum(debit) as debits, sum(credit) as credits from postings group by account_id) j using (account_id)
where a.debits <> coalesce(j.debits, 0) or a.credits <> coalesce(j.credits, 0)
