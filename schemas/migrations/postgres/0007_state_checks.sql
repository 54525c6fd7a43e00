-- Every state column names a known state. payout_batches.state and payout_transfers.state have had
-- their CHECK since 0004 (and earnings.status since 0003); these are the two left: a payout's state
-- (rewards/ and payouts/ move it) and the states its history records. The values are the ones the
-- code writes: rewards/sql/insert-payouts.sql, set-payout-states.sql, and payouts/sql/*.sql.
alter table payouts add constraint payouts_state_known
  check (state in ('requested', 'accepted', 'batched', 'review', 'paid', 'released', 'reversed'));

alter table payout_events add constraint payout_events_state_known
  check (state in ('requested', 'accepted', 'batched', 'review', 'approved', 'rejected',
    'provider_succeeded', 'provider_failed', 'provider_reversed', 'paid', 'released', 'reversed'));
