-- Keeps the operating account's fund-flow rows of bill day $1: flow numbers $2, vouchers (业务凭证号)
-- $3, WeChat business numbers $4, 'in' | 'out' $5, amounts in fen $6, business names $7, remarks $8.
-- The flow number is WeChat's, so a bill read again adds nothing.
insert into operating_flows (flow_no, bill_date, voucher_no, wechat_no, in_out, amount_fen, business, remark)
select f.flow_no, $1::date, f.voucher_no, f.wechat_no, f.in_out, f.amount_fen, f.business, f.remark
from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])
  as f(flow_no, voucher_no, wechat_no, in_out, amount_fen, business, remark)
on conflict (flow_no) do nothing
