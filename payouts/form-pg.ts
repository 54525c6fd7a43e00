// Forming a batch: the oldest queued transfers, each through the risk checks first (the risky ones
// are held for review), numbered and committed in one transaction before any call carries them.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import type { Api, BatchParams } from './providers/provider.js';
import { reviewReason, type RiskConfig, type RiskReason } from './risk.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['queued-transfers', 'form-batch'] as const);

interface Queued { payout_id: string; request_no: string; user_id: string; amount_fen: string; created_at: Date; linked_at: Date; day_count: string; day_fen: string; hour_count: string }

/** A batch number: B + time + randomness, 32 alphanumerics at most, as WeChat requires. */
const newBatchNo = (nowMs: number) => `B${nowMs.toString(36).toUpperCase()}${randomBytes(10).toString('hex').toUpperCase()}`;

export function createBatchFormer(config: { api: Api; maxBatch: number; maxAgeMs: number; risk: RiskConfig; params: BatchParams }, deps: { pool: pg.Pool; fraudReasons(userIds: string[]): Promise<Map<string, string[]>>; now(): number }) {
  return {
    /**
     * Forms one batch when enough transfers are queued or the oldest has waited long enough; runs the
     * risk checks on each transfer first and holds the risky ones for review. Returns the batch
     * number, or undefined when there is nothing to send yet.
     */
    async formBatch(): Promise<{ batchNo?: string; held: number }> {
      const client = await deps.pool.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query<Queued>(sql['queued-transfers'], [config.maxBatch]);
        const nowMs = deps.now();
        if (rows.length === 0 || (rows.length < config.maxBatch && nowMs - rows[0]!.created_at.getTime() < config.maxAgeMs)) {
          await client.query('rollback');
          return { held: 0 };
        }
        const fraud = await deps.fraudReasons([...new Set(rows.map((r) => r.user_id))]);
        const send: string[] = [];
        const held: [string, RiskReason][] = [];
        const seen = new Map<string, { count: number; fen: number }>();
        for (const r of rows) {
          const earlier = seen.get(r.user_id) ?? { count: 0, fen: 0 };
          const amountFen = Number(r.amount_fen);
          const reason = reviewReason(config.risk, {
            amountFen, linkedAtMs: r.linked_at.getTime(), fraudReasons: fraud.get(r.user_id) ?? [],
            dayCount: Number(r.day_count) + earlier.count, dayFen: Number(r.day_fen) + earlier.fen, hourCount: Number(r.hour_count) + earlier.count,
          }, nowMs);
          if (reason) held.push([r.request_no, reason]);
          else {
            send.push(r.request_no);
            seen.set(r.user_id, { count: earlier.count + 1, fen: earlier.fen + amountFen });
          }
        }
        const batchNo = send.length > 0 ? newBatchNo(nowMs) : undefined;
        await client.query(sql['form-batch'], [batchNo ?? '', config.api, send, held.map((h) => h[0]), held.map((h) => h[1]), config.params]);
        await client.query('commit');
        return { batchNo, held: held.length };
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

  };
}
