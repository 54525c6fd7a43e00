-- The postings of the transactions just inserted, all in this one statement (the postings_check
-- trigger requires it): $1 transaction ids, $2 account ids, $3 currencies, $4 debits, $5 credits.
insert into postings (transaction_id, account_id, currency, debit, credit)
select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
