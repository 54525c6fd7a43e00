-- The parts of campaign refund $1 (the payouts service splits it over paid orders, all parts at once).
select out_refund_no, amount_fen, state from topup_refunds where refund_id = $1 order by out_refund_no
