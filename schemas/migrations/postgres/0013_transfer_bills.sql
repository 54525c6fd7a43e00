-- Payouts as WeChat works in 2026 (payouts/README.md "Which product"): transfer bills the user
-- confirms (or authorized once), real names from 2,000 yuan, and the operating account's flows kept
-- for reconciliation.

-- A transfer bill's life at WeChat, beside our own state: what WeChat last said (ACCEPTED ...
-- WAIT_USER_CONFIRM, TRANSFERING, SUCCESS, FAIL, CANCELLED), the confirm-page package and when it
-- arrived, when to ask again, and when a cancel was asked for. The payee's real name is sealed as
-- the openid is, snapshotted when the transfer is formed, so a create sent again is identical.
-- approved: a person approved it in review, so the risk rules do not hold it again.
-- awaiting_name: 2,000 yuan or more and the user has given no real name yet.
alter table payout_transfers
  add column provider_state text,
  add column package_at timestamptz,
  add column user_name_enc bytea,
  add column approved boolean not null default false,
  add column next_poll_at timestamptz,
  add column cancel_requested_at timestamptz,
  -- How a bill is sent, fixed before its first send so every retry sends the same request: null not
  -- decided yet, '' an ordinary bill (the confirm page), else the authorization it names.
  add column authorization_id text,
  drop constraint payout_transfers_state_check,
  add constraint payout_transfers_state_check
    check (state in ('queued', 'review', 'awaiting_name', 'batched', 'succeeded', 'failed', 'reversed'));
create index payout_transfers_next_poll on payout_transfers (next_poll_at) where state = 'batched';
create index payout_transfers_awaiting_name on payout_transfers (user_id) where state = 'awaiting_name';
-- A voucher may be WeChat's id for the transfer (transfer_bill_no, detail_id, payment_no).
create index payout_transfers_provider_id on payout_transfers (provider_id) where provider_id is not null;
-- What the provider said, by day: a day's reconciliation looks up the transfers paid or failed then.
create index payout_events_provider_outcomes on payout_events (state, at) where state in ('provider_succeeded', 'provider_failed');

-- The request parameters a batch was formed with (remark, scene, report infos, notify URL): a
-- resubmission or a re-create sends these, not whatever the config says today.
alter table payout_batches add column params jsonb not null default '{}';

alter table payouts drop constraint payouts_state_known,
  add constraint payouts_state_known
    check (state in ('requested', 'accepted', 'batched', 'review', 'awaiting_name', 'paid', 'released', 'reversed'));
alter table payout_events drop constraint payout_events_state_known,
  add constraint payout_events_state_known
    check (state in ('requested', 'accepted', 'batched', 'review', 'awaiting_name', 'name_added', 'approved', 'rejected',
      'cancel_requested', 'provider_succeeded', 'provider_failed', 'provider_reversed', 'paid', 'released', 'reversed'));

-- The user's real name for WeChat's name check (KYC), sealed like the openid, scoped like the link:
-- cleared when the link moves to another openid.
alter table wechat_links add column real_name_enc bytea, add column real_name_at timestamptz;

-- Every row of the operating account's fund-flow bill, kept across days: a transfer bill's debit
-- (at WAIT_USER_CONFIRM) and its refund (on close or cancel) may fall on different days, so
-- reconciliation sums them per voucher over every day read. A flow carries WeChat's business number
-- too: a voucher may be matched by either.
create table operating_flows (
  flow_no text primary key,
  bill_date date not null,
  voucher_no text not null,
  wechat_no text not null default '',
  in_out text not null check (in_out in ('in', 'out')),
  amount_fen bigint not null check (amount_fen >= 0),
  business text not null default '',
  remark text not null default '',
  read_at timestamptz not null default now()
);
create index operating_flows_voucher on operating_flows (voucher_no);
create index operating_flows_wechat_no on operating_flows (wechat_no) where wechat_no <> '';

-- A run counts the transfer-bill money it found locked and the queries it queued; a failed bill whose
-- money never came back is its own kind of discrepancy. Discrepancies are looked up by request number.
alter table reconciliation_runs add column locked int not null default 0, add column queried int not null default 0;
alter table reconciliation_discrepancies drop constraint reconciliation_discrepancies_kind_check,
  add constraint reconciliation_discrepancies_kind_check
    check (kind in ('unknown_to_ledger', 'amount_mismatch', 'paid_not_in_bill', 'refund_missing'));
create index reconciliation_discrepancies_open on reconciliation_discrepancies (request_no) where resolved_at is null;

-- Transfer bills without a confirm page (PAYOUTS_BILL_CONFIRM_MODE=authorized; payouts/README.md
-- "No-confirmation mode"): each person's 免确认收款授权 request, for the openid it was made for
-- (openid_mac, as in wechat_links), as WeChat last showed it. A person authorizes once.
create table payout_authorizations (
  person text primary key,
  out_authorization_no text not null unique check (out_authorization_no ~ '^[A-Za-z0-9]{1,32}$'),
  openid_mac bytea not null,
  authorization_id text,
  state text not null,
  package_info text,
  updated_at timestamptz not null default now()
);
