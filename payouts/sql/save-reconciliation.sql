-- One reconciliation run of day $1: its counts ($2 bill rows, $3 matched, $4 settled, $5 released,
-- $6 reversed, $7 unexplained) and its discrepancies ($8 request numbers, $9 kinds, $10 details).
-- A discrepancy found again stays open; one of this day no longer found is resolved.
with run as (
  insert into reconciliation_runs (bill_date, bill_rows, matched, settled, released, reversed, unexplained)
  values ($1::date, $2, $3, $4, $5, $6, $7)
), found as (
  insert into reconciliation_discrepancies (bill_date, request_no, kind, detail)
  select $1::date, * from unnest($8::text[], $9::text[], $10::text[])
  on conflict (bill_date, request_no, kind) do update set detail = excluded.detail, resolved_at = null
)
update reconciliation_discrepancies d set resolved_at = now()
where d.bill_date = $1::date and d.resolved_at is null
  and not exists (select 1 from unnest($8::text[], $9::text[]) as f(request_no, kind) where f.request_no = d.request_no and f.kind = d.kind)
