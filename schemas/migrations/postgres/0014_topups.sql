-- Money in (payouts/README.md "Top-ups and refunds"): advertisers fund their campaigns through WeChat
-- Pay, and get back what an ended campaign did not spend. The payouts service (the WeChat Pay gateway)
-- owns topup_orders and topup_refunds; rewards owns advertisers, a campaign's owner and end,
-- campaign_refunds, and the ledger, which learns of payments and refund outcomes through a queue.

create table advertisers (
  advertiser_id text primary key check (advertiser_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
  created_at timestamptz not null default now()
);
-- A campaign belongs to at most one advertiser, whose token alone (besides the operator's) may fund,
-- read or refund it; ends_at: from then on its unspent budget may be refunded.
alter table campaigns add column advertiser_id text references advertisers, add column ends_at timestamptz;
create index campaigns_advertiser on campaigns (advertiser_id) where advertiser_id is not null;

-- A refund of unspent budget is held first (campaign_budget -> refund_clearing), then settled to the
-- advertiser (refund_clearing -> advertiser_funding) or released back to the budget, part by part.
insert into account_types values
  ('refund_clearing', 'credit', true, 'a campaign''s unspent budget on its way back to the advertiser (owner: refund_id)');
alter table transactions drop constraint transactions_kind_check,
  add constraint transactions_kind_check check (kind in ('fund', 'earning', 'hold', 'settle', 'release', 'reversal', 'correction',
    'refund_hold', 'refund_settle', 'refund_release'));
create unique index transactions_one_refund_hold on transactions (reference) where kind = 'refund_hold';
create unique index transactions_one_refund_outcome on transactions (reference) where kind in ('refund_settle', 'refund_release');

-- A top-up order at WeChat Pay (Native QR or JSAPI). Its number is committed before the create call,
-- so a create sent again after a crash or a lost answer is the same order. state is our side of its
-- life: created (committed, no answer yet), open (code_url or prepay_id known, waiting for the payer),
-- paid (WeChat said SUCCESS for the amount ordered; credited to the budget through the ledger),
-- closing (a close asked for), closed (WeChat confirmed it closed unpaid), attention (a person must
-- decide: paid after we saw it closed, an amount or merchant that does not match). provider_state is
-- WeChat's last trade_state word. A refund's amounts live in topup_refunds.
create table topup_orders (
  out_trade_no text primary key check (out_trade_no ~ '^[A-Za-z0-9]{6,32}$'),
  advertiser_id text not null references advertisers,
  campaign_id text not null references campaigns,
  idempotency_key text not null check (length(idempotency_key) between 1 and 200),
  amount_fen bigint not null check (amount_fen > 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  api text not null check (api in ('v3', 'v2')),
  trade_type text not null check (trade_type in ('NATIVE', 'JSAPI')),
  payer_openid text check ((trade_type = 'JSAPI') = (payer_openid is not null)),
  description text not null,
  expires_at timestamptz not null,
  state text not null check (state in ('created', 'open', 'paid', 'closing', 'closed', 'attention')),
  provider_state text,
  code_url text,
  prepay_id text,
  transaction_id text,
  paid_fen bigint,
  paid_at timestamptz,
  attention_reason text check ((state = 'attention') = (attention_reason is not null)),
  -- A person's decision on an order in attention: credit it to the budget, or refund it whole.
  resolution text check (resolution in ('credit', 'refund')),
  next_poll_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (advertiser_id, idempotency_key)
);
create index topup_orders_campaign on topup_orders (campaign_id, created_at);
create index topup_orders_due on topup_orders (next_poll_at) where state in ('created', 'open', 'closing');
create index topup_orders_transaction on topup_orders (transaction_id) where transaction_id is not null;

-- A campaign refund, as rewards accepted it with its ledger hold (refund_clearing, owner refund_id).
-- The payouts service splits it over the campaign's paid orders (topup_refunds); each part's outcome
-- settles or releases its share. state: requested until every part is final, then refunded (all
-- settled), partly_refunded (some released), failed (all released).
create table campaign_refunds (
  refund_id uuid primary key,
  campaign_id text not null references campaigns,
  advertiser_id text not null references advertisers,
  idempotency_key text not null check (length(idempotency_key) between 1 and 200),
  amount_fen bigint not null check (amount_fen > 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  reason text not null default '',
  state text not null check (state in ('requested', 'refunded', 'partly_refunded', 'failed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (advertiser_id, idempotency_key)
);
create index campaign_refunds_open on campaign_refunds (created_at) where state = 'requested';
create index campaign_refunds_campaign on campaign_refunds (campaign_id);

-- One WeChat refund: a part of a campaign refund against one paid order, or (refund_id null) a
-- person's refund of a whole order in attention, which never entered the ledger. Committed before
-- the call, its number fixed, so a call sent again is the same refund. state: created (no answer
-- yet), processing (WeChat accepted it), succeeded (SUCCESS: the money went back to the payer),
-- failed (CLOSED, or refused for good before anything moved: the money goes back to the budget),
-- attention (ABNORMAL: WeChat could not return it to the payer's card; once a person handles it at
-- WeChat it reads SUCCESS and the part succeeds). provider_state is WeChat's last status word.
create table topup_refunds (
  out_refund_no text primary key check (out_refund_no ~ '^[A-Za-z0-9_|*@-]{1,64}$'),
  out_trade_no text not null references topup_orders,
  refund_id uuid references campaign_refunds,
  amount_fen bigint not null check (amount_fen > 0),
  state text not null check (state in ('created', 'processing', 'succeeded', 'failed', 'attention')),
  provider_state text,
  wechat_refund_id text,
  reason text,
  succeeded_at timestamptz,
  next_poll_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index topup_refunds_order on topup_refunds (out_trade_no);
create index topup_refunds_refund on topup_refunds (refund_id) where refund_id is not null;
create index topup_refunds_due on topup_refunds (next_poll_at) where state in ('created', 'processing');
-- ABNORMAL parts are asked about again hourly (a person may have handled them at WeChat since).
create index topup_refunds_abnormal on topup_refunds (next_poll_at) where state = 'attention' and reason = 'ABNORMAL';

-- The trade bill is reconciled in the same run as the operating account's fund flows.
alter table reconciliation_runs
  add column trade_rows int not null default 0,
  add column trade_matched int not null default 0,
  add column trade_unexplained int not null default 0;
alter table reconciliation_discrepancies drop constraint reconciliation_discrepancies_kind_check,
  add constraint reconciliation_discrepancies_kind_check
    check (kind in ('unknown_to_ledger', 'amount_mismatch', 'paid_not_in_bill', 'refund_missing',
      'trade_unknown', 'trade_amount_mismatch', 'trade_not_in_bill', 'refund_unknown', 'refund_not_in_bill'));
