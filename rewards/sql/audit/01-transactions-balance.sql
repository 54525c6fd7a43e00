-- Every ledger transaction balances: sum of debits = sum of credits, per currency.
select transaction_id as id, currency, sum(debit) as debits, sum(credit) as credits
from postings group by transaction_id, currency having sum(debit) <> sum(credit)
