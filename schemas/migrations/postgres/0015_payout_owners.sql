-- One owner per table for payouts. Until now rewards/ and payouts/ both moved payouts.state and both
-- wrote payout_events. From here:
-- - rewards/ owns payouts and payout_events: a request (with its ledger hold) and the outcomes the
--   ledger posts, requested -> paid | released, paid -> reversed, each moved in the transaction that
--   posts its money, and a trigger refuses any other move.
-- - payouts/ owns payout_transfers (what it does with a request: queued, review, awaiting_name,
--   batched, then WeChat's outcome) and its history, payout_transfer_events.
-- - Each learns of the other through the BullMQ queues that already connect them (requests, outcomes)
--   and reads the other's rows only through the views below.

create table payout_transfer_events (
  payout_id uuid not null references payouts,
  at timestamptz not null default now(),
  state text not null check (state in ('accepted', 'batched', 'review', 'awaiting_name', 'name_added', 'approved',
    'rejected', 'cancel_requested', 'provider_succeeded', 'provider_failed', 'provider_reversed')),
  detail jsonb not null default '{}'
);
create index payout_transfer_events_payout on payout_transfer_events (payout_id, at);
-- What the provider said, by day: a day's reconciliation looks up the transfers paid or failed then.
create index payout_transfer_events_provider_outcomes on payout_transfer_events (state, at)
  where state in ('provider_succeeded', 'provider_failed');

-- The payouts service's history moves to its own table; a payout's state keeps only the ledger's word.
insert into payout_transfer_events (payout_id, at, state, detail)
select payout_id, at, state, detail from payout_events where state not in ('requested', 'paid', 'released', 'reversed');
delete from payout_events where state not in ('requested', 'paid', 'released', 'reversed');
drop index payout_events_provider_outcomes;
update payouts set state = 'requested' where state not in ('requested', 'paid', 'released', 'reversed');

alter table payouts drop constraint payouts_state_known,
  add constraint payouts_state_known check (state in ('requested', 'paid', 'released', 'reversed'));
alter table payout_events drop constraint payout_events_state_known,
  add constraint payout_events_state_known check (state in ('requested', 'paid', 'released', 'reversed'));

-- The database refuses a move the ledger cannot make, whoever asks.
create function payouts_state_moves() returns trigger language plpgsql as $$
begin
  if new.state is distinct from old.state and not (
    (old.state = 'requested' and new.state in ('paid', 'released')) or (old.state = 'paid' and new.state = 'reversed')
  ) then
    raise exception 'payout % cannot move from % to %', old.payout_id, old.state, new.state using errcode = 'check_violation';
  end if;
  return new;
end $$;
create trigger payouts_state_moves before update of state on payouts
  for each row execute function payouts_state_moves();

-- A person's authorization for bills without a confirm page holds WeChat's state word as WeChat said
-- it (WAIT_USER_CONFIRM, AUTHORIZED, ...): its form is checked, not a list, so a word WeChat adds is
-- stored rather than refused.
alter table payout_authorizations add constraint payout_authorizations_state_word
  check (state ~ '^[A-Z][A-Z_]{0,31}$');

-- What rewards/ may read of payouts/: the requests it has taken up (the rest are handed off again).
create view payouts_taken_up as select payout_id from payout_transfers;

-- A payout's whole history: rewards' entries and the payouts service's.
create view payout_history as
select payout_id, at, state, detail from payout_events
union all select payout_id, at, state, detail from payout_transfer_events;

-- What payouts/ shows of a payout (GET /v1/payouts/{id}): the ledger's state once there is an
-- outcome, before that what the payouts service is doing with it.
create view payout_status as
select p.payout_id, p.user_id, p.amount_fen, p.currency, p.source, p.created_at, greatest(p.updated_at, t.updated_at) as updated_at,
  case
    when p.state <> 'requested' or t.state is null then p.state
    when t.state = 'queued' then 'accepted'
    when t.state in ('review', 'awaiting_name') then t.state
    else 'batched' -- sent, or its outcome not yet posted to the ledger
  end as state
from payouts p left join payout_transfers t using (payout_id);
