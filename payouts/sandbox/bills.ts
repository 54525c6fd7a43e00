// The sandbox's bills (reference/wechatpay.md §6): one account's money movements of a China
// calendar day (fund flow), or the day's payments and refunds (trade bill, trade-bill.ts), in WeChat's
// CSV (UTF-8 BOM, a plain header, backtick-prefixed fields that may hold commas and quotes as they
// are, two summary lines), ready after 10:00 the next day. Transfers move in the OPERATION account,
// top-ups and payments land in BASIC; a bill with no rows does not exist (NO_STATEMENT_EXIST). v3
// answers the SHA1 (of the uncompressed file) and a download URL; v2 answers the file; GZIP on request.
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { toV2Xml } from '../wechat/v2-protocol.js';
import type { Account, FundFlow, Merchant } from './merchant.js';
import { chinaTime } from './timers.js';
import { tradeBillCsv, tradeLines, type TradeBillType } from './trade-bill.js';
import type { Trades } from './trades.js';
import { v3Error, type V3Reply } from './v3-auth.js';

const DAY_MS = 86_400_000;
const CHINA_MS = 8 * 3_600_000;
const yuan = (fen: number) => (fen / 100).toFixed(2);
const HEADER =
  '记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号';
const SUMMARY = '资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额';
/** 业务类型 of the flows that are not a payout or its refund. */
const TYPES: Record<string, string> = { 充值: '充值', 内部转账: '内部转账', 交易: '交易', 退款: '退款', 提现: '提现' };
const V2_ACCOUNTS: Record<string, Account | 'FEES'> = { Basic: 'BASIC', Operation: 'OPERATION', Fees: 'FEES' };

export function fundflowCsv(flows: FundFlow[], mchid: string): string {
  const row = (f: FundFlow) =>
    [
      chinaTime(f.at).slice(0, 19).replace('T', ' '),
      f.wechatNo,
      f.flowNo,
      f.business,
      TYPES[f.business] ?? (f.inOut === '支出' ? '企业付款' : '退款'),
      f.inOut,
      yuan(f.amountFen),
      yuan(f.balanceFen),
      mchid,
      f.remark,
      f.voucherNo,
    ]
      .map((v) => `\`${v}`)
      .join(',');
  const side = (s: FundFlow['inOut']) => flows.filter((f) => f.inOut === s);
  const total = (fs: FundFlow[]) => yuan(fs.reduce((n, f) => n + f.amountFen, 0));
  const summary = [flows.length, side('收入').length, total(side('收入')), side('支出').length, total(side('支出'))]
    .map((v) => `\`${v}`)
    .join(',');
  return `\uFEFF${HEADER}\n${flows.map(row).join('\n')}${flows.length ? '\n' : ''}${SUMMARY}\n${summary}\n`;
}

/** The China day `day` (yyyy-MM-dd) as [start, end) in ms, and whether its bills are made yet (after 10:00 the next day). */
function dayOf(m: Merchant, day: string, nowMs: number): { start: number; end: number; ready: boolean } {
  const start = Date.parse(`${day}T00:00:00Z`) - CHINA_MS;
  return { start, end: start + DAY_MS, ready: m.faults.billsAtOnce || nowMs >= start + DAY_MS + 10 * 3_600_000 };
}

/** The account's movements of the day, or why there is no bill: not made yet (before 10:00 the next day), or none. */
export function billOf(
  m: Merchant,
  day: string,
  account: Account | 'FEES',
  nowMs: number,
): FundFlow[] | 'creating' | 'none' {
  const { start, end, ready } = dayOf(m, day, nowMs);
  if (!ready) return 'creating';
  const flows = account === 'FEES' ? [] : m.flowsOf(account).filter((f) => f.at >= start && f.at < end);
  return flows.length ? flows : 'none';
}

const v2Error = (msg: string, code: string) => ({
  xml: toV2Xml({ return_code: 'FAIL', return_msg: msg, error_code: code }),
});
const v2Day = (yyyymmdd: string | undefined) =>
  /^(\d{4})(\d{2})(\d{2})$/
    .exec(yyyymmdd ?? '')
    ?.slice(1)
    .join('-');

export function createBillsSandbox(deps: {
  merchant: Merchant;
  trades: Trades;
  feeRate: number;
  baseUrl(): string;
  now(): number;
}) {
  const files = new Map<string, { file: string | Buffer; expiresAt: number }>();
  /** The day's trade bill of `type`, or why there is none. */
  const tradeBill = (day: string, type: TradeBillType): string | 'creating' | 'none' => {
    const { start, end, ready } = dayOf(deps.merchant, day, deps.now());
    if (!ready) return 'creating';
    const lines = tradeLines(deps.trades, start, end, type);
    return lines.length ? tradeBillCsv(lines, deps.feeRate) : 'none';
  };
  /** v3: the SHA1 of the text, and a URL that serves it (gzipped when asked) for 5 minutes. */
  const offer = (text: string, gzip: boolean): V3Reply => {
    const token = randomBytes(16).toString('hex');
    files.set(token, { file: gzip ? gzipSync(text) : text, expiresAt: deps.now() + 5 * 60_000 });
    return {
      status: 200,
      body: {
        hash_type: 'SHA1',
        hash_value: createHash('sha1').update(text).digest('hex'),
        download_url: `${deps.baseUrl()}/v3/billdownload/file?token=${token}`,
      },
    };
  };
  const badTar = (tar: string | null | undefined) => tar !== null && tar !== undefined && tar !== 'GZIP';
  return {
    /** POST /pay/downloadfundflow (signature and certificate checked): the CSV, or WeChat's XML error. */
    v2Fundflow(p: Record<string, string>): { csv?: string | Buffer; xml?: string } {
      if (p.sign_type !== 'HMAC-SHA256')
        return { xml: toV2Xml({ return_code: 'FAIL', return_msg: 'sign_type必须为HMAC-SHA256' }) };
      const account = V2_ACCOUNTS[p.account_type ?? ''];
      if (!account) return v2Error('invalid account_type', '20001');
      const day = v2Day(p.bill_date);
      const flows = day ? billOf(deps.merchant, day, account, deps.now()) : 'none';
      if (flows === 'creating') return v2Error('Bill Creating', '20003');
      if (flows === 'none') return v2Error('No Bill Exist', '20002');
      const csv = fundflowCsv(flows, deps.merchant.config.mchid);
      return { csv: p.tar_type === 'GZIP' ? gzipSync(csv) : csv };
    },
    /** POST /pay/downloadbill (no certificate): the day's trade bill; RECHARGE_REFUND has no rows here. */
    v2TradeBill(p: Record<string, string>): { csv?: string | Buffer; xml?: string } {
      const type = p.bill_type ?? 'ALL';
      if (!['ALL', 'SUCCESS', 'REFUND', 'RECHARGE_REFUND'].includes(type)) return v2Error('invalid bill_type', '20001');
      if (badTar(p.tar_type)) return v2Error('invalid tar_type', '20001');
      const day = v2Day(p.bill_date);
      if (!day) return v2Error('invalid bill_date', '20001');
      const bill = tradeBill(day, type === 'RECHARGE_REFUND' ? 'ALL' : (type as TradeBillType));
      if (bill === 'creating') return v2Error('Bill Creating', '20003');
      if (bill === 'none' || type === 'RECHARGE_REFUND') return v2Error('No Bill Exist', '20002');
      return { csv: p.tar_type === 'GZIP' ? gzipSync(bill) : bill };
    },

    /** GET /v3/bill/fundflowbill?bill_date=yyyy-MM-dd&account_type=BASIC|OPERATION|FEES (BASIC when absent) */
    fundflow(q: URLSearchParams): V3Reply {
      const day = q.get('bill_date') ?? '';
      const account = q.get('account_type') ?? 'BASIC';
      if (
        !/^\d{4}-\d{2}-\d{2}$/.test(day) ||
        (account !== 'BASIC' && account !== 'OPERATION' && account !== 'FEES') ||
        badTar(q.get('tar_type'))
      )
        return v3Error(400, 'PARAM_ERROR', 'bill_date或account_type不正确');
      const flows = billOf(deps.merchant, day, account, deps.now());
      if (flows === 'creating') return v3Error(400, 'STATEMENT_CREATING', '账单生成中');
      if (flows === 'none') return v3Error(400, 'NO_STATEMENT_EXIST', '要查询的账单不存在');
      return offer(fundflowCsv(flows, deps.merchant.config.mchid), q.get('tar_type') === 'GZIP');
    },
    /** GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL|SUCCESS|REFUND (ALL when absent) */
    tradebill(q: URLSearchParams): V3Reply {
      const day = q.get('bill_date') ?? '';
      const type = q.get('bill_type') ?? 'ALL';
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !['ALL', 'SUCCESS', 'REFUND'].includes(type) || badTar(q.get('tar_type')))
        return v3Error(400, 'PARAM_ERROR', 'bill_date或bill_type不正确');
      const bill = tradeBill(day, type as TradeBillType);
      if (bill === 'creating') return v3Error(400, 'STATEMENT_CREATING', '账单生成中');
      if (bill === 'none') return v3Error(400, 'NO_STATEMENT_EXIST', '要查询的账单不存在');
      return offer(bill, q.get('tar_type') === 'GZIP');
    },
    /** GET /v3/billdownload/file?token=…: the file, unsigned. */
    download(token: string): string | Buffer | undefined {
      const file = files.get(token);
      return file && file.expiresAt > deps.now() ? file.file : undefined;
    },
  };
}
