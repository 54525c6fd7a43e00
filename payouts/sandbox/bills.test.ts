// The sandbox's fund-flow bills per account, as WeChat keeps them: transfers move in OPERATION,
// top-ups land in BASIC; each account has its own bill (NO_STATEMENT_EXIST when it had no flow that
// day); fields start with a backtick and keep commas and quotes; journals from before accounts read.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFundflowBill } from '../reconcile.js';
import { sandboxMerchant } from './defaults.js';
import { startTestSandbox } from './test-clients.js';

type Sandbox = Awaited<ReturnType<typeof startTestSandbox>>;
const started: Sandbox[] = [];
const start = async (overrides: Parameters<typeof startTestSandbox>[0] = {}) => {
  const s = await startTestSandbox(overrides);
  started.push(s);
  await s.admin('faults', { billsAtOnce: true });
  return s;
};
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});
let seq = 0;
const bill = (remark = 'reward', amount = 300) => ({
  appid: sandboxMerchant.appid,
  out_bill_no: `F${Date.now()}${seq++}`,
  transfer_scene_id: '1000',
  openid: 'oFlowUser',
  transfer_amount: amount,
  transfer_remark: remark,
  transfer_scene_report_infos: [
    { info_type: '活动名称', info_content: '看广告得奖励' },
    { info_type: '奖励说明', info_content: '观看广告获得奖励' },
  ],
});
const today = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
const text = async (s: Sandbox, account: string, day = today()) => {
  const got = await s.fundflow(account, day);
  if (!('text' in got)) throw new Error(`no ${account} bill: ${got.code}`);
  return got.text;
};

describe('fund-flow bills per account', () => {
  it('serves payouts in OPERATION only, top-ups in BASIC (moved on to OPERATION), v3 and v2 alike', async () => {
    const s = await start();
    await s.admin('topup', { amountFen: 5_000 });
    const b = bill();
    await s.v3.createBill(b);
    const operation = parseFundflowBill(await text(s, 'OPERATION'));
    expect(operation.filter((r) => r.voucherNo === b.out_bill_no)).toEqual([
      expect.objectContaining({ business: '商家转账', inOut: '支出', amountFen: 300n, remark: 'reward' }),
    ]);
    expect(operation.filter((r) => r.voucherNo.startsWith('topup'))).toEqual([
      expect.objectContaining({ inOut: '收入', amountFen: 5_000n }),
    ]);
    const basic = parseFundflowBill(await text(s, 'BASIC'));
    expect(basic.map((r) => [r.inOut, r.amountFen])).toEqual([
      ['收入', 5_000n],
      ['支出', 5_000n],
    ]);
    expect(basic.some((r) => r.voucherNo === b.out_bill_no)).toBe(false);
    const v2 = (account: string) => s.v2Fundflow(account, today().replaceAll('-', ''));
    expect(await v2('Operation')).toContain(b.out_bill_no);
    expect(await v2('Basic')).not.toContain(b.out_bill_no);
    expect(await v2('Fees')).toContain('<error_code><![CDATA[20002]]></error_code>');
    expect(await v2('Everything')).toContain('invalid account_type');
  });

  it('has no OPERATION bill (NO_STATEMENT_EXIST, v2 20002) for a day with BASIC flows only', async () => {
    const s = await start();
    await s.admin('topup', { amountFen: 5_000, move: false });
    expect(await s.fundflow('OPERATION', today())).toEqual({ code: 'NO_STATEMENT_EXIST' });
    expect(await s.v2Fundflow('Operation', today().replaceAll('-', ''))).toContain('No Bill Exist');
    expect(parseFundflowBill(await text(s, 'BASIC'))).toEqual([
      expect.objectContaining({ inOut: '收入', amountFen: 5_000n }),
    ]);
  });

  it('writes the transfer remark as it is, commas and quotes included, behind a backtick; the billRemark fault puts them in any flow', async () => {
    const s = await start();
    const b = bill('奖励,"第1期", ok');
    await s.v3.createBill(b);
    await s.admin('faults', { billRemark: '退回,"原因":超时' });
    await s.v3.cancelBill(b.out_bill_no);
    const mine = (csv: string) => csv.split('\n').filter((l) => l.includes(b.out_bill_no));
    for (let i = 0; i < 100 && mine(await text(s, 'OPERATION')).length < 2; i++)
      await new Promise((r) => setTimeout(r, 20)); // the refund, a step later
    const csv = await text(s, 'OPERATION');
    const lines = mine(csv);
    expect(lines[0]).toContain('`奖励,"第1期", ok,`');
    expect(lines[1]).toContain('`退回,"原因":超时,`');
    expect(csv.split('\n')[0]).toBe(
      '\uFEFF记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号',
    );
    expect(parseFundflowBill(csv).map((r) => [r.voucherNo, r.inOut, r.amountFen, r.remark])).toEqual([
      [b.out_bill_no, '支出', 300n, '奖励,"第1期", ok'],
      [b.out_bill_no, '收入', 300n, '退回,"原因":超时'],
    ]);
  });

  it('reads a journal from before accounts: payouts as OPERATION, top-ups as BASIC', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    const at = Date.now();
    const line = (inOut: string, business: string, amountFen: number, balanceFen: number, voucherNo: string) =>
      JSON.stringify({
        kind: 'flow',
        flow: {
          at,
          wechatNo: 'w',
          flowNo: `f${voucherNo}`,
          business,
          inOut,
          amountFen,
          balanceFen,
          voucherNo,
          remark: business,
        },
      });
    writeFileSync(
      journalFile,
      `${[line('收入', '充值', 1_000, 11_000, 'topup1'), line('支出', '商家转账到零钱', 400, 10_600, 'OLD1')].join('\n')}\n`,
    );
    const s = await start({ journalFile, balanceFen: 10_000 });
    expect(await s.admin('state')).toMatchObject({ balanceFen: 10_600 });
    expect(parseFundflowBill(await text(s, 'OPERATION')).map((r) => r.voucherNo)).toEqual(['OLD1']);
    expect(parseFundflowBill(await text(s, 'BASIC')).map((r) => r.voucherNo)).toEqual(['topup1']);
  });
});
