-- The ledger sums to zero: across all accounts, debits equal credits, per currency (materialised
-- balances and journal alike).
select currency, sum(debits) as debits, sum(credits) as credits, 'accounts' as source from accounts
group by currency having sum(debits) <> sum(credits)
union all
select currency, sum(debit), sum(credit), 'postings' from postings
group by currency having sum(debit) <> sum(credit)
