-- Orders newest first, up to $3: of campaign $1 (null: any), of advertiser $2 (null: any).
select * from topup_orders
where ($1::text is null or campaign_id = $1) and ($2::text is null or advertiser_id = $2)
order by created_at desc, out_trade_no
limit $3
