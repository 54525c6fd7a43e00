-- Top-up order $1 (out_trade_no) as the ledger needs it: who paid into which campaign, how much WeChat
-- said was paid (paid_fen: an order a person resolved after a mismatched amount credits what came in,
-- never what was asked), and whether it was paid. topup_orders is the payouts service's; rewards only reads it.
select out_trade_no, advertiser_id, campaign_id, coalesce(paid_fen, 0) as amount_fen, currency, state
from topup_orders where out_trade_no = $1
