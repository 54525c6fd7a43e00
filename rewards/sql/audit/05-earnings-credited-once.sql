-- Each earning (source event) is credited at most once, by exactly the transaction its record names.
select reference as id, count(*) as transactions, count(e.earning_id) as records
from transactions t left join earnings e on e.transaction_id = t.transaction_id and e.earning_id::text = t.reference
where t.kind = 'earning'
group by t.reference having count(*) > 1 or count(e.earning_id) <> 1
