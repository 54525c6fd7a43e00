-- A new top-up order of campaign $2, in state created, its number $1 committed before any call.
-- The campaign must have an owner, and be advertiser $3's when $3 is not null (the operator: null).
-- $4 Idempotency-Key (unique per advertiser), $5 amount_fen, $6 currency, $7 api (v3 | v2),
-- $8 trade_type (NATIVE | JSAPI), $9 payer_openid (JSAPI), $10 description, $11 ms until it expires,
-- $12 ms until the sweep first looks at it (sends the create again if it is still created by then).
-- Returns the new order (fresh) or the one the owner made before under the same key (not fresh);
-- nothing when the campaign is not there, has no owner or another one. A key taken by a concurrent
-- insert also returns nothing here: the caller reads it by key (order-by-key.sql).
with c as (
  select campaign_id, advertiser_id from campaign_advertisers
  where campaign_id = $2 and ($3::text is null or advertiser_id = $3)
), ins as (
  insert into topup_orders (out_trade_no, advertiser_id, campaign_id, idempotency_key, amount_fen, currency, api, trade_type,
    payer_openid, description, expires_at, state, next_poll_at)
  select $1, c.advertiser_id, c.campaign_id, $4, $5, $6, $7, $8, $9, $10,
    now() + make_interval(secs => $11::double precision / 1000), 'created', now() + make_interval(secs => $12::double precision / 1000)
  from c
  on conflict (advertiser_id, idempotency_key) do nothing
  returning *
)
select ins.*, true as fresh from ins
union all
select o.*, false as fresh from topup_orders o join c using (advertiser_id)
where o.idempotency_key = $4 and not exists (select from ins)
