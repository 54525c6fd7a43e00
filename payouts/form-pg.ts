// Forming a batch: the oldest queued transfers, each placed by risk.ts first (held for review, or
// waiting for the payee's real name), numbered and committed in one transaction before any call
// carries them. A transfer that needs the name carries it sealed from then on, so a re-create is identical.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { fen, type Fen } from '../common/money.js';
import { loadSql } from '../common/sql.js';
import type { Api, BatchParams } from './providers/provider.js';
import { namedParams } from './providers/v3-batch.js';
import { placement, type RiskConfig, type RiskReason } from './risk.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['queued-transfers', 'form-batch', 'requeue-named'] as const);

interface Queued {
  payout_id: string;
  request_no: string;
  user_id: string;
  amount_fen: string;
  created_at: Date;
  approved: boolean;
  linked_at: Date;
  real_name_enc: Buffer | null;
  day_count: string;
  day_fen: string;
  hour_count: string;
}

/** A batch number: B + time + randomness, 32 alphanumerics at most, as WeChat requires. */
const newBatchNo = (nowMs: number) =>
  `B${nowMs.toString(36).toUpperCase()}${randomBytes(10).toString('hex').toUpperCase()}`;

export function createBatchFormer(
  config: { api: Api; maxBatch: number; maxAgeMs: number; risk: RiskConfig; params: BatchParams },
  deps: { pool: pg.Pool; fraudReasons(userIds: string[]): Promise<Map<string, string[]>>; now(): number },
) {
  /**
   * A v3 batch takes names on all of its details or on none (reference/wechatpay.md, December 2026
   * "Real name"), so there transfers sent named and unnamed go into batches of their own, the kind of
   * the oldest first; the others wait, still queued, for the next call. The other products send one
   * call per transfer, so one batch holds both.
   */
  const apart = config.api === 'v3_batch';
  return {
    /**
     * Forms one batch when enough transfers are queued or the oldest has waited long enough. First
     * queues again the transfers whose person has given the real name they waited for. Places each
     * transfer (risk.ts): the risky ones are held for review, those that need a name nobody gave wait
     * for it. Returns the batch number, or undefined when there is nothing to send yet.
     */
    async formBatch(): Promise<{ batchNo?: string; held: number; awaitingName: number }> {
      await deps.pool.query(sql['requeue-named']);
      const client = await deps.pool.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query<Queued>(sql['queued-transfers'], [config.maxBatch]);
        const nowMs = deps.now();
        if (
          rows.length === 0 ||
          (rows.length < config.maxBatch && nowMs - rows[0]!.created_at.getTime() < config.maxAgeMs)
        ) {
          await client.query('rollback');
          return { held: 0, awaitingName: 0 };
        }
        const fraud = await deps.fraudReasons([...new Set(rows.map((r) => r.user_id))]);
        const send: { requestNo: string; name: Buffer | null }[] = [];
        const held: [string, RiskReason][] = [];
        const waiting: string[] = [];
        const seen = new Map<string, { count: number; fen: Fen }>();
        let named: boolean | undefined; // the kind of this batch, where kinds go apart
        for (const r of rows) {
          const earlier = seen.get(r.user_id) ?? { count: 0, fen: fen(0) };
          const amountFen = fen(r.amount_fen);
          const place = placement(
            config.risk,
            config.api,
            {
              amountFen,
              linkedAtMs: r.linked_at.getTime(),
              fraudReasons: fraud.get(r.user_id) ?? [],
              dayCount: Number(r.day_count) + earlier.count,
              dayFen: fen(fen(r.day_fen) + earlier.fen),
              hourCount: Number(r.hour_count) + earlier.count,
              approved: r.approved,
              hasName: r.real_name_enc !== null,
            },
            nowMs,
          );
          if (place.to === 'review') held.push([r.request_no, place.reason]);
          else if (place.to === 'awaiting_name') waiting.push(r.request_no);
          else if (!apart || (named ??= place.named) === place.named) {
            send.push({ requestNo: r.request_no, name: place.named ? r.real_name_enc : null });
            seen.set(r.user_id, { count: earlier.count + 1, fen: fen(earlier.fen + amountFen) });
          }
        }
        const batchNo = send.length > 0 ? newBatchNo(nowMs) : undefined;
        const params = apart && named ? namedParams(config.params) : config.params;
        await client.query(sql['form-batch'], [
          batchNo ?? '',
          config.api,
          send.map((s) => s.requestNo),
          send.map((s) => s.name),
          held.map((h) => h[0]),
          held.map((h) => h[1]),
          waiting,
          params,
        ]);
        await client.query('commit');
        return { batchNo, held: held.length, awaitingName: waiting.length };
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
  };
}
