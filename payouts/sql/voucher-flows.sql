-- The operating account's flows kept so far, from every bill day read, under any of $1 (request
-- numbers, WeChat ids, or vouchers nobody knows), as 业务凭证号 or as WeChat's business number.
select voucher_no, wechat_no, in_out, amount_fen, to_char(bill_date, 'YYYY-MM-DD') as bill_date
from operating_flows
where voucher_no = any($1::text[]) or (wechat_no = any($1::text[]) and wechat_no <> '')
