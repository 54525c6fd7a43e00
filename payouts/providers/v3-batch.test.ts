// The v3 batch API takes the payee's real name on all details of a batch or on none: a batch formed
// named (namedParams) sends every detail's user_name encrypted, any other batch sends none, and a
// named batch missing a name is refused before any call. A fake client records what would go out.
import { describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import type { BatchParams, Item } from './provider.js';
import { createV3BatchProvider, namedParams } from './v3-batch.js';
import type { CreateBatch, V3Client } from '../wechat/v3-client.js';

const params: BatchParams = { remark: 'reward', sceneId: '1000', sceneReport: [] };
const big = (no: string, userName?: string): Item => ({
  requestNo: no,
  amountFen: fen(200_000),
  openid: `o${no}`,
  ...(userName ? { userName } : {}),
});

function provider() {
  const sent: CreateBatch[] = [];
  const client = {
    encrypt: (plain: string) => `enc(${plain})`,
    createBatch: async (b: CreateBatch) => {
      sent.push(b);
      return {
        ok: true,
        status: 200,
        data: { out_batch_no: b.out_batch_no, batch_id: 'WX1', create_time: '', batch_status: 'ACCEPTED' },
      };
    },
  } as unknown as V3Client;
  return { sent, provider: createV3BatchProvider({ appid: 'wxapp', clientIp: '127.0.0.1', maxBatch: 1000 }, client) };
}

describe('v3 batch real names', () => {
  it.each([
    [
      'a named batch sends every user_name, encrypted',
      namedParams(params),
      [big('R1', '张三'), big('R2', '李四')],
      ['enc(张三)', 'enc(李四)'],
    ],
    [
      'a batch not formed named sends no name, even one an item carries',
      params,
      [{ requestNo: 'R1', amountFen: fen(150), openid: 'o1', userName: '张三' }],
      [undefined],
    ],
  ] as const)('%s', async (_name, p, items, names) => {
    const { sent, provider: v3 } = provider();
    expect((await v3.submit('B1', [...items], p)).ok).toBe(true);
    expect(sent[0]!.transfer_detail_list.map((d) => d.user_name)).toEqual(names);
  });

  it('refuses a named batch with a transfer that has no name, and calls nothing', async () => {
    const { sent, provider: v3 } = provider();
    await expect(v3.submit('B1', [big('R1', '张三'), big('R2')], namedParams(params))).rejects.toMatchObject({
      code: 'real_name_missing',
      retriable: false,
    });
    expect(sent).toEqual([]);
  });

  it('keeps the named flag in the stored parameters, so a resubmission is named too', () => {
    expect(JSON.parse(JSON.stringify(namedParams(params)))).toEqual({ ...params, realNames: true });
  });
});
