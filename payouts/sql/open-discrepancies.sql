-- Discrepancies no reconciliation has explained yet.
select bill_date, request_no, kind, detail from reconciliation_discrepancies where resolved_at is null order by bill_date, request_no
