-- The provider side of each payout (payouts/). Every request number WeChat Pay sees (out_batch_no,
-- out_detail_no, partner_trade_no, out_bill_no) is written here before the call that carries it,
-- so after a crash the same numbers, and only they, are sent again.

-- One provider call unit: a v3 batch (<= 1000 details), or a group of v2 transfers or transfer bills.
create table payout_batches (
  batch_no text primary key check (batch_no ~ '^[A-Za-z0-9]{1,32}$'),
  api text not null check (api in ('v2_transfer', 'v3_batch', 'v3_bill')),
  state text not null default 'formed' check (state in ('formed', 'submitted', 'finished', 'attention')),
  provider_batch_id text,
  detail text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index payout_batches_open on payout_batches (updated_at) where state in ('formed', 'submitted');

-- One transfer per payout. request_no is the payout id without dashes (32 alphanumerics), so a
-- payout can never be sent under two numbers. The openid is sealed as in wechat_links.
create table payout_transfers (
  payout_id uuid primary key references payouts,
  request_no text not null unique check (request_no ~ '^[A-Za-z0-9]{1,32}$'),
  user_id text not null,
  amount_fen bigint not null check (amount_fen > 0),
  openid_enc bytea not null,
  batch_no text references payout_batches,
  state text not null default 'queued'
    check (state in ('queued', 'review', 'batched', 'succeeded', 'failed', 'reversed')),
  provider_id text,
  fail_reason text,
  package_info text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index payout_transfers_queued on payout_transfers (created_at) where state = 'queued';
create index payout_transfers_batch on payout_transfers (batch_no);
create index payout_transfers_user on payout_transfers (user_id, created_at);
create index payout_transfers_outcomes on payout_transfers (updated_at) where state in ('succeeded', 'failed', 'reversed');

-- Reconciliation: each run against a day's bill, and what it could not explain.
create table reconciliation_runs (
  run_id bigserial primary key,
  bill_date date not null,
  ran_at timestamptz not null default now(),
  bill_rows int not null,
  matched int not null,
  settled int not null,
  released int not null,
  reversed int not null,
  unexplained int not null
);
create table reconciliation_discrepancies (
  bill_date date not null,
  request_no text not null,
  kind text not null check (kind in ('unknown_to_ledger', 'amount_mismatch', 'paid_not_in_bill')),
  detail text not null,
  found_at timestamptz not null default now(),
  resolved_at timestamptz,
  primary key (bill_date, request_no, kind)
);

-- A payout the provider failed after paying it is reversed once (payout_clearing -> available).
create unique index transactions_one_reversal on transactions (reference) where kind = 'reversal';
