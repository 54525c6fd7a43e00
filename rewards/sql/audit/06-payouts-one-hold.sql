-- Each payout has exactly one hold, of its amount, and every hold belongs to a payout.
select p.payout_id::text as id, count(distinct t.transaction_id) as holds, p.amount_fen, coalesce(sum(x.debit), 0) as held_fen
from payouts p
left join transactions t on t.reference = p.payout_id::text and t.kind = 'hold'
left join postings x on x.transaction_id = t.transaction_id and x.debit > 0
group by p.payout_id
having count(distinct t.transaction_id) <> 1 or coalesce(sum(x.debit), 0) <> p.amount_fen
union all
select t.reference, 1, null, null from transactions t
where t.kind = 'hold' and not exists (select 1 from payouts p where p.payout_id::text = t.reference)
