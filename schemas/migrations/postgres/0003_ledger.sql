-- The money (rewards/, payouts/): a double-entry ledger with TigerBeetle's guarantees on Postgres.
-- Amounts are integer minor units (fen for CNY) in bigint. The database itself enforces what the
-- code also checks: every transaction balances per currency, the journal is append-only, and
-- accounts that may not be overdrawn never are.

-- What an account is: its normal side, and whether its balance may go below zero.
create table account_types (
  type text primary key,
  normal text not null check (normal in ('debit', 'credit')),
  no_overdraft boolean not null,
  meaning text not null,
  unique (type, normal, no_overdraft)
);
insert into account_types values
  ('advertiser_funding', 'debit', false, 'money advertisers paid in (owner: advertiser or '''')'),
  ('campaign_budget', 'credit', true, 'unspent budget of a campaign (owner: campaign_id)'),
  ('user_available', 'credit', true, 'what a user has earned and may withdraw (owner: user_id)'),
  ('user_held', 'credit', true, 'a user''s money reserved for payouts in flight (owner: user_id)'),
  ('payout_clearing', 'credit', true, 'what has been paid to a user''s WeChat wallet, cleared against the provider by reconciliation (owner: user_id)'),
  ('platform_revenue', 'credit', false, 'the platform''s fees (owner: '''')');

-- Balances are materialised (debits and credits posted, as in TigerBeetle) and updated in the same
-- transaction as the postings; `npm run audit` recomputes them from the journal.
create table accounts (
  account_id bigserial primary key,
  type text not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  owner text not null,
  normal text not null,
  no_overdraft boolean not null,
  debits bigint not null default 0 check (debits >= 0),
  credits bigint not null default 0 check (credits >= 0),
  created_at timestamptz not null default now(),
  unique (type, currency, owner),
  foreign key (type, normal, no_overdraft) references account_types (type, normal, no_overdraft),
  constraint account_not_overdrawn check (
    not no_overdraft or (case when normal = 'credit' then credits - debits else debits - credits end) >= 0)
);
create index accounts_owner on accounts (owner);

-- One row per transaction; `idempotency_key` is client-chosen (the earning id, payout id + phase,
-- withdrawal Idempotency-Key) and `content_hash` lets a retry be told from a conflicting reuse.
create table transactions (
  transaction_id bigserial primary key,
  idempotency_key text not null unique,
  kind text not null check (kind in ('fund', 'earning', 'hold', 'settle', 'release', 'reversal', 'correction')),
  reference text not null default '',
  content_hash bytea not null,
  created_at timestamptz not null default now()
);

-- A transaction and its postings are written in one statement (a data-modifying WITH); the
-- statement-level checks below validate whole sets at once, instead of a trigger per row.
create table postings (
  posting_id bigserial primary key,
  transaction_id bigint not null,
  account_id bigint not null,
  currency text not null,
  debit bigint not null default 0 check (debit >= 0),
  credit bigint not null default 0 check (credit >= 0),
  check ((debit > 0) <> (credit > 0))
);
create index postings_account on postings (account_id, posting_id desc);
create index postings_transaction on postings (transaction_id);

-- Each statement's postings: every transaction balances per currency, names an existing transaction
-- and an account of its currency, and all of its postings arrive in that one statement (so nothing
-- can be added to a transaction later). A balanced transaction has at least two postings, as each
-- is one-sided. (These set-based checks stand in for foreign keys, which would check row by row.)
-- Lookups are scalar subqueries, so each is an index probe per row whatever the statistics say: as
-- joins, a plan made while the tables were small nested whole-table scans (seconds per batch).
create function postings_check() returns trigger language plpgsql as $$
declare
  bad bigint;
begin
  select transaction_id into bad from new_postings group by transaction_id, currency
    having sum(debit) <> sum(credit) limit 1;
  if found then
    raise exception 'transaction % does not balance', bad using errcode = '23514';
  end if;
  select p.transaction_id into bad from new_postings p
    where (select a.currency from accounts a where a.account_id = p.account_id) is distinct from p.currency
      or (select t.transaction_id from transactions t where t.transaction_id = p.transaction_id) is null
    limit 1;
  if found then
    raise exception 'transaction % posts to a missing transaction or account, or one of another currency', bad using errcode = '23503';
  end if;
  select n.transaction_id into bad from (select transaction_id, count(*) k from new_postings group by 1) n
    where n.k <> (select count(*) from postings p where p.transaction_id = n.transaction_id) limit 1;
  if found then
    raise exception 'transaction % already has postings: transactions are immutable', bad using errcode = '23514';
  end if;
  return null;
end $$;
alter function postings_check() set enable_seqscan = off;
create trigger postings_check after insert on postings
  referencing new table as new_postings for each statement execute function postings_check();

-- A transaction is written with its postings, in the same statement.
create function transactions_check() returns trigger language plpgsql as $$
declare
  bad bigint;
begin
  select n.transaction_id into bad from new_transactions n
    where (select count(*) from postings p where p.transaction_id = n.transaction_id) = 0 limit 1;
  if found then
    raise exception 'transaction % has no postings: write a transaction and its postings in one statement', bad using errcode = '23514';
  end if;
  return null;
end $$;
alter function transactions_check() set enable_seqscan = off;
create trigger transactions_check after insert on transactions
  referencing new table as new_transactions for each statement execute function transactions_check();

-- The journal is append-only: corrections are new transactions.
create function append_only() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: post a correcting transaction instead', tg_table_name using errcode = '55000';
end $$;
create trigger transactions_append_only before update or delete or truncate on transactions
  for each statement execute function append_only();
create trigger postings_append_only before update or delete or truncate on postings
  for each statement execute function append_only();
-- Accounts change only by their balances; none is ever removed.
create trigger accounts_kept before delete or truncate on accounts
  for each statement execute function append_only();

-- Reward rules per campaign. An earning uses the rule in effect when it was verified, so a change
-- applies to earnings after it (and a replay computes the same amount). Amounts in fen.
create table reward_rules (
  campaign_id text not null check (length(campaign_id) between 1 and 64),
  effective_from timestamptz not null default now(),
  currency text not null default 'CNY' check (currency ~ '^[A-Z]{3}$'),
  reward_complete_fen bigint not null check (reward_complete_fen >= 0),
  conversion_fen bigint not null check (conversion_fen >= 0),
  user_daily_cap_fen bigint check (user_daily_cap_fen > 0),
  fee_bps integer not null default 0 check (fee_bps between 0 and 10000),
  primary key (campaign_id, effective_from)
);
create trigger reward_rules_notify after insert or update or delete on reward_rules
  for each row execute function notify_campaigns();

-- Every verified earning the rewards service has seen, posted or refused (with the reason), so a
-- replay of the earnings topic finds it and changes nothing.
create table earnings (
  earning_id uuid primary key,
  source_event_id uuid not null unique,
  app_id text not null,
  user_id text not null,
  campaign_id text not null,
  type text not null check (type in ('REWARD_COMPLETE', 'CONVERSION')),
  event_time timestamptz not null,
  verified_at timestamptz not null,
  day date not null,
  status text not null check (status in ('posted', 'refused')),
  reason text not null default '',
  amount_fen bigint not null default 0 check (amount_fen >= 0),
  fee_fen bigint not null default 0 check (fee_fen >= 0),
  transaction_id bigint, -- the posting transaction (its reference is earning_id); checked by the audit
  recorded_at timestamptz not null default clock_timestamp(),
  check ((status = 'posted') = (transaction_id is not null))
);
create index earnings_user_day on earnings (user_id, campaign_id, day);
create trigger earnings_append_only before update or delete or truncate on earnings
  for each statement execute function append_only();

-- A user's linked WeChat identity. The openid and tokens are AES-256-GCM ciphertexts; openid_mac
-- (an HMAC under the same key) lets one openid be linked to one user only, without decrypting.
create table wechat_links (
  user_id text primary key,
  appid text not null,
  openid_mac bytea not null,
  openid_enc bytea not null,
  access_token_enc bytea not null,
  refresh_token_enc bytea not null,
  scope text not null default '',
  token_expires_at timestamptz not null,
  linked_at timestamptz not null default now(),
  unique (appid, openid_mac)
);

-- Payout requests: created with their ledger hold (rewards/, on the threshold or a withdrawal),
-- carried out by the payouts service, which records every state change in payout_events.
create table payouts (
  payout_id uuid primary key,
  user_id text not null,
  amount_fen bigint not null check (amount_fen > 0),
  currency text not null default 'CNY',
  source text not null check (source in ('threshold', 'withdrawal')),
  idempotency_key text not null unique,
  state text not null default 'requested',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index payouts_user on payouts (user_id, created_at desc);
create index payouts_requested on payouts (created_at) where state = 'requested';

create table payout_events (
  payout_id uuid not null references payouts,
  at timestamptz not null default now(),
  state text not null,
  detail jsonb not null default '{}'
);
create index payout_events_payout on payout_events (payout_id, at);

-- Each payout has at most one hold, and at most one outcome: settle or release.
create unique index transactions_one_hold on transactions (reference) where kind = 'hold';
create unique index transactions_one_outcome on transactions (reference) where kind in ('settle', 'release');
