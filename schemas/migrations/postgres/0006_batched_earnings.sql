-- A batch of earnings is posted as one transaction (rewards/earnings-pg.ts): each user's reward is a
-- posting of its own, and the campaign budgets' debits and the platform's fees are summed per
-- account. Per earning that is one posting instead of three, and no transaction row of its own.
-- A posting's reference names what it is about when its transaction covers several things (the
-- earning a reward posting pays); null means its transaction's reference.
alter table postings add column reference text check (length(reference) between 1 and 200);

-- An earning is known by its source event: its id is derived from it (schemas/records.ts `earningId`,
-- which rewards/records.ts checks on read), so the source event's key is the one unique index an
-- earning needs. One random-key index insert per earning fewer.
alter table earnings drop constraint earnings_pkey, drop constraint earnings_source_event_id_key,
  add primary key (source_event_id);
