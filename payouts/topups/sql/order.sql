-- Order $1 as it is now.
select * from topup_orders where out_trade_no = $1
