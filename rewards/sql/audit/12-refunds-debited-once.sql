-- Every campaign refund is held once and every part of it debited once: each campaign refund has one
-- refund_hold of its amount, from its campaign's budget to its refund_clearing account, and its
-- parts add up to that hold (settled + released + in flight; none yet only while requested); a
-- succeeded part has one settle of its amount (its clearing -> its advertiser's funding), a failed
-- one one release (-> its campaign's budget), a part in flight or waiting for a person neither, as a
-- whole-order refund (no campaign refund); a final part may wait 60 s (the hand-off in flight); a
-- refund's final state matches its parts; no hold, settle or release is without its row.
with moves as (
  select t.transaction_id, t.kind, t.reference, count(*) as postings,
    coalesce(sum(p.debit) filter (where a.type = case t.kind when 'refund_hold' then 'campaign_budget' else 'refund_clearing' end), 0) as from_fen,
    min(a.owner) filter (where p.debit > 0) as from_owner,
    coalesce(sum(p.credit) filter (where a.type = case t.kind when 'refund_hold' then 'refund_clearing' when 'refund_settle' then 'advertiser_funding' else 'campaign_budget' end), 0) as to_fen,
    min(a.owner) filter (where p.credit > 0) as to_owner
  from transactions t join postings p using (transaction_id) join accounts a using (account_id)
  where t.kind in ('refund_hold', 'refund_settle', 'refund_release')
  group by t.transaction_id
), parts as (
  select x.out_refund_no, x.refund_id, x.amount_fen, x.state, x.updated_at, r.campaign_id, r.advertiser_id,
    count(m.transaction_id) as outcomes,
    bool_and(m.transaction_id is null or (m.postings = 2 and m.from_fen = x.amount_fen and m.to_fen = x.amount_fen and m.from_owner = x.refund_id::text
      and m.to_owner = case m.kind when 'refund_settle' then r.advertiser_id else r.campaign_id end)) as amounts_match,
    string_agg(m.kind, ',') as kinds
  from topup_refunds x
  left join campaign_refunds r using (refund_id)
  left join moves m on m.reference = x.out_refund_no and m.kind in ('refund_settle', 'refund_release')
  group by x.out_refund_no, x.refund_id, x.amount_fen, x.state, x.updated_at, r.campaign_id, r.advertiser_id
)
select out_refund_no as id, state, amount_fen, kinds, 'part' as what from parts
where not amounts_match
  or (refund_id is null and outcomes > 0)
  or (refund_id is not null and state = 'succeeded' and coalesce(kinds, '') <> 'refund_settle' and not (outcomes = 0 and updated_at > now() - interval '60 seconds'))
  or (refund_id is not null and state = 'failed' and coalesce(kinds, '') <> 'refund_release' and not (outcomes = 0 and updated_at > now() - interval '60 seconds'))
  or (state not in ('succeeded', 'failed') and outcomes > 0)
union all
select r.refund_id::text, r.state, r.amount_fen, coalesce(h.kinds, '') || '; parts ' || coalesce(s.parts_fen, 0), 'refund'
from campaign_refunds r
left join lateral (
  select count(*) as holds, string_agg(m.kind, ',') as kinds,
    bool_and(m.postings = 2 and m.from_fen = r.amount_fen and m.to_fen = r.amount_fen and m.from_owner = r.campaign_id and m.to_owner = r.refund_id::text) as matches
  from moves m where m.kind = 'refund_hold' and m.reference = r.refund_id::text
) h on true
left join lateral (
  select sum(x.amount_fen) as parts_fen, count(*) as parts,
    count(*) filter (where x.state = 'succeeded') as succeeded, count(*) filter (where x.state = 'failed') as failed
  from topup_refunds x where x.refund_id = r.refund_id
) s on true
where h.holds <> 1 or not h.matches
  or (s.parts > 0 and s.parts_fen <> r.amount_fen)
  or (s.parts = 0 and r.state <> 'requested')
  or (r.state = 'refunded' and s.succeeded <> s.parts)
  or (r.state = 'failed' and s.failed <> s.parts)
  or (r.state = 'partly_refunded' and (s.succeeded = 0 or s.failed = 0 or s.succeeded + s.failed <> s.parts))
union all
select m.reference, null, m.from_fen, m.kind, 'orphan' from moves m
where (m.kind = 'refund_hold' and not exists (select from campaign_refunds r where r.refund_id::text = m.reference))
  or (m.kind <> 'refund_hold' and not exists (select from topup_refunds x where x.out_refund_no = m.reference and x.refund_id is not null))
