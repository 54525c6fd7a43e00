-- Top-up order $1 (out_trade_no) as the ledger needs it: who paid into which campaign, how much, and
-- whether WeChat said it was paid. topup_orders is the payouts service's; rewards only reads it.
select out_trade_no, advertiser_id, campaign_id, amount_fen, currency, state
from topup_orders where out_trade_no = $1
