-- Once reconciliation has run, nothing the provider paid is missing from the ledger and nothing the
-- ledger marks paid is missing at the provider: no discrepancy is left unresolved.
select bill_date, request_no as id, kind, detail from reconciliation_discrepancies where resolved_at is null
