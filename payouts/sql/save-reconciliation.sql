-- One reconciliation run of day $1: its fund-flow counts ($2 bill rows, $3 matched, $4 settled, $5
-- released, $6 reversed, $7 unexplained, $8 locked, $9 queried) and trade-bill counts ($14 rows, $15
-- matched, $16 unexplained), its discrepancies of both ($10 request numbers, $11 kinds, $12 details)
-- and the request numbers the fund-flow part looked at ($13). A discrepancy found again keeps its open
-- row, whatever day first found it. An open one not found again is resolved: of the fund-flow kinds
-- ($17), when this run looked at it or it is of this day; of the trade kinds ($18: empty when the
-- trade bill was not read), when it is of this day (only that day's bill shows its rows).
with run as (
  insert into reconciliation_runs (bill_date, bill_rows, matched, settled, released, reversed, unexplained, locked, queried, trade_rows, trade_matched, trade_unexplained)
  values ($1::date, $2, $3, $4, $5, $6, $7, $8, $9, $14, $15, $16)
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
where d.resolved_at is null
  and ((d.kind = any($17::text[]) and (d.bill_date = $1::date or d.request_no = any($13::text[])))
    or (d.kind = any($18::text[]) and d.bill_date = $1::date))
  and not exists (select 1 from found f where f.request_no = d.request_no and f.kind = d.kind)
