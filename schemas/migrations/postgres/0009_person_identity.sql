-- A person is (app_id, user_id) (CONTRACTS.md §8): in rewards and payouts, money and identity are
-- keyed by `<app_id>:<user_id>` (common/person.ts) where a bare user_id was. Earnings also keep the
-- confirmation that made them trusted and their device, and may be held for review (issue 22).

-- What an earning now records: the confirmation ("<source>:<transaction_id>") and the device, and
-- for one held for review ('review': over a platform daily limit, no money moved) when it was decided.
alter table earnings
  add column confirmation text not null default '',
  add column device_id text not null default '',
  add column reviewed_at timestamptz,
  drop constraint earnings_status_check,
  add constraint earnings_status_check check (status in ('posted', 'refused', 'review')),
  add constraint earnings_review_undecided check (status <> 'review' or reviewed_at is null);

-- Existing rows are rewritten below, so the append-only trigger goes first; it comes back at the end.
drop trigger earnings_append_only on earnings;

-- The rule for existing data. Every bare user_id becomes `<app>:<user_id>`, where app is the app of
-- the user's earliest earning (by verified_at). Before this migration a user id was one account
-- whatever app it earned in; it stays one account, under that app, and all of its earnings rows,
-- accounts, WeChat link and payouts move together, so every reward posting still names its earning
-- record's owner (the audit's earnings-credited-once). A user with no earnings (a link, no money)
-- takes the only app when exactly one exists; otherwise their WeChat link is removed (they link
-- again) and their empty accounts (never posted to) move aside to `:<user_id>`, which no person key
-- can be (an app id is never empty), so they cannot collide with a person's accounts.
-- Every value is bare, also one that looks like a person key ("app.a:x" is the user "app.a:x"):
-- this migration is the first to write person keys, and it runs before the services that write
-- them start (top README, "In production"), so none can be here yet. Guessing that a
-- value was converted already would hand one user's money and WeChat link to another.
create temporary table person_map (bare text primary key, person text) on commit drop;

insert into person_map (bare, person)
select distinct on (user_id) user_id, app_id || ':' || user_id
from earnings
order by user_id, verified_at, recorded_at, source_event_id;

insert into person_map (bare, person)
select v, case when (select count(*) from apps) = 1 then (select app_id from apps) || ':' || v end
from (
  select user_id as v from wechat_links
  union select owner from accounts where type in ('user_available', 'user_held', 'payout_clearing')
  union select user_id from payouts
  union select user_id from payout_transfers
) x
where not exists (select 1 from person_map m where m.bare = x.v);

-- Money with no app to give it to is not guessed at: the migration stops and names the user.
do $$
declare
  bad text;
begin
  select m.bare into bad from person_map m
  where m.person is null and (
    exists (select 1 from accounts a where a.owner = m.bare and a.type in ('user_available', 'user_held', 'payout_clearing') and (a.debits <> 0 or a.credits <> 0))
    or exists (select 1 from payouts p where p.user_id = m.bare))
  limit 1;
  if found then
    raise exception 'user % has money or payouts but no earnings to tell its app, and there is not exactly one app: give it an app by hand (update its rows to "<app_id>:%"), then migrate again', bad, bad
      using errcode = '23514';
  end if;
end $$;

delete from wechat_links w using person_map m where w.user_id = m.bare and m.person is null;
update accounts a set owner = ':' || m.bare from person_map m
where a.owner = m.bare and m.person is null and a.type in ('user_available', 'user_held', 'payout_clearing');
update wechat_links w set user_id = m.person from person_map m where w.user_id = m.bare and m.person is not null;
-- accounts are the materialised rows of the journal: postings name accounts by id, so changing an
-- owner in place keeps every posting, transaction and balance as it was.
update accounts a set owner = m.person from person_map m
where a.owner = m.bare and m.person is not null and a.type in ('user_available', 'user_held', 'payout_clearing');
update earnings e set user_id = m.person from person_map m where e.user_id = m.bare and m.person is not null;
update payouts p set user_id = m.person from person_map m where p.user_id = m.bare and m.person is not null;
update payout_transfers t set user_id = m.person from person_map m where t.user_id = m.bare and m.person is not null;
-- Idempotency keys stay as written (transactions are append-only): a payout's id was derived from its
-- key once, and payouts.idempotency_key keeps that key. rewards/sql/find-payout.sql finds a
-- withdrawal retried across this change under its key of before, for the same person.

update account_types set meaning = replace(meaning, '(owner: user_id)', '(owner: <app_id>:<user_id>)')
where type in ('user_available', 'user_held', 'payout_clearing');
comment on column earnings.user_id is 'the person: <app_id>:<user_id> (common/person.ts)';
comment on column wechat_links.user_id is 'the person: <app_id>:<user_id> (common/person.ts)';
comment on column payouts.user_id is 'the person: <app_id>:<user_id> (common/person.ts)';
comment on column payout_transfers.user_id is 'the person: <app_id>:<user_id> (common/person.ts)';

-- Earnings stay append-only, with one exception the database checks itself: an earning held for
-- review is decided once, to posted (with its transaction) or refused, and nothing else changes.
create trigger earnings_kept before delete or truncate on earnings
  for each statement execute function append_only();
create function earnings_decided_once() returns trigger language plpgsql as $$
begin
  if old.status = 'review' and new.status in ('posted', 'refused') and new.reviewed_at is not null
    and (new.earning_id, new.source_event_id, new.app_id, new.user_id, new.campaign_id, new.type, new.event_time, new.verified_at,
         new.day, new.reason, new.amount_fen, new.fee_fen, new.recorded_at, new.confirmation, new.device_id)
      is not distinct from (old.earning_id, old.source_event_id, old.app_id, old.user_id, old.campaign_id, old.type, old.event_time, old.verified_at,
         old.day, old.reason, old.amount_fen, old.fee_fen, old.recorded_at, old.confirmation, old.device_id) then
    return new;
  end if;
  raise exception 'earnings are append-only: only an earning held for review is decided, once (review -> posted | refused)' using errcode = '55000';
end $$;
create trigger earnings_decided_once before update on earnings
  for each row execute function earnings_decided_once();

-- Daily sums per person and day (all campaigns: the platform limit; one campaign: its cap), per
-- device of an app and day (the device limit), and the earnings held for review or decided.
drop index earnings_user_day;
create index earnings_person_day on earnings (user_id, day, campaign_id);
create index earnings_device_day on earnings (app_id, device_id, day) where device_id <> '';
create index earnings_reviews on earnings (earning_id) where status = 'review' or reviewed_at is not null;
