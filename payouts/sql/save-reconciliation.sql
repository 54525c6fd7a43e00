-- One reconciliation run of day $1: its counts ($2 bill rows, $3 matched, $4 settled, $5 released,
-- $6 reversed, $7 unexplained, $8 locked, $9 queried), its discrepancies ($10 request numbers, $11
-- kinds, $12 details) and what it looked at ($13 request numbers). A discrepancy found again keeps its
-- open row, whatever day first found it; an open one this run looked at (or of this day) and did not
-- find again is resolved.
with run as (
  insert into reconciliation_runs (bill_date, bill_rows, matched, settled, released, reversed, unexplained, locked, queried)
  values ($1::date, $2, $3, $4, $5, $6, $7, $8, $9)
), found as (
  select * from unnest($10::text[], $11::text[], $12::text[]) as f(request_no, kind, detail)
), kept as (
  update reconciliation_discrepancies d set detail = f.detail
  from found f where d.request_no = f.request_no and d.kind = f.kind and d.resolved_at is null
), added as (
  insert into reconciliation_discrepancies (bill_date, request_no, kind, detail)
  select $1::date, f.request_no, f.kind, f.detail from found f
  where not exists (select 1 from reconciliation_discrepancies d where d.request_no = f.request_no and d.kind = f.kind and d.resolved_at is null)
  on conflict (bill_date, request_no, kind) do update set detail = excluded.detail, resolved_at = null
)
update reconciliation_discrepancies d set resolved_at = now()
where d.resolved_at is null and (d.bill_date = $1::date or d.request_no = any($13::text[]))
  and not exists (select 1 from found f where f.request_no = d.request_no and f.kind = d.kind)
