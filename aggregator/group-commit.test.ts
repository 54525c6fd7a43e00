import { describe, expect, it } from 'vitest';
import { silentLog } from '../test/support.js';
import { createGroupCommit } from './group-commit.js';

const item = (rows: number) => ({ rows });

describe('group commit', () => {
  it('writes the batches submitted together in one write, and resolves each after it', async () => {
    const writes: number[][] = [];
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 20, maxRows: 1_000 },
      {
        write: async (items) => void writes.push(items.map((i) => i.rows)),
        log: silentLog,
        now: Date.now,
      },
    );
    await Promise.all([group.submit(item(1)), group.submit(item(2)), group.submit(item(3))]);
    expect(writes).toEqual([[1, 2, 3]]);
  });

  it('writes at once when the waiting rows reach maxRows', async () => {
    const group = createGroupCommit(
      { intervalMs: 60_000, lingerMs: 60_000, maxRows: 10 },
      { write: async () => {}, log: silentLog, now: Date.now },
    );
    const t0 = Date.now();
    await group.submit(item(10));
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('keeps at most one write per interval, gathering what arrives meanwhile', async () => {
    const writes: number[][] = [];
    const group = createGroupCommit(
      { intervalMs: 300, lingerMs: 0, maxRows: 1_000 },
      {
        write: async (items) => void writes.push(items.map((i) => i.rows)),
        log: silentLog,
        now: Date.now,
      },
    );
    await group.submit(item(1));
    const t1 = Date.now();
    await Promise.all([group.submit(item(2)), group.submit(item(3))]);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(250);
    expect(writes).toEqual([[1], [2, 3]]);
  });

  it('writes at once while the consumer is behind', async () => {
    const group = createGroupCommit(
      { intervalMs: 60_000, lingerMs: 60_000, maxRows: 1_000 },
      { write: async () => {}, log: silentLog, now: Date.now },
    );
    const t0 = Date.now();
    await Promise.all([group.submit({ rows: 1 }), group.submit({ rows: 1, backlog: true })]);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('retries a failed write, telling it the attempt, and resolves only when it succeeded', async () => {
    const attempts: number[] = [];
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 0, maxRows: 1_000, retryMs: 10 },
      {
        write: async (_items, attempt) => {
          attempts.push(attempt);
          if (attempt < 2) throw new Error('clickhouse down');
        },
        log: silentLog,
        now: Date.now,
      },
    );
    await group.submit(item(1));
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('splits a group whose write is poison until the item at fault is alone, writes the others, and hands that one to poisoned', async () => {
    const written: number[] = [];
    const poisoned: { rows: number; attempt: number }[] = [];
    const failures: unknown[] = [];
    const unparsable = Object.assign(new Error('Code: 27, Cannot parse input'), { code: '27', type: 'SERVER_ERROR' });
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 20, maxRows: 1_000, retryMs: 10 },
      {
        write: async (items) => {
          if (items.some((i) => i.rows === 3)) throw unparsable;
          written.push(...items.map((i) => i.rows));
        },
        poisoned: async (item, attempt) => void poisoned.push({ rows: item.rows, attempt }),
        failed: (err) => void failures.push(err),
        log: silentLog,
        now: Date.now,
      },
    );
    await Promise.all([1, 2, 3, 4].map((rows) => group.submit(item(rows))));
    expect(written.sort()).toEqual([1, 2, 4]);
    expect(poisoned).toEqual([{ rows: 3, attempt: 1 }]);
    expect(failures).toEqual([]); // poison set aside is no failed attempt: nothing stalls
  });

  it('reports each failed attempt and each written group, for the stall signal', async () => {
    const events: string[] = [];
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 0, maxRows: 1_000, retryMs: 10 },
      {
        write: async (_items, attempt) => {
          if (attempt < 2) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
        failed: (err) => void events.push(`failed ${(err as { code: string }).code}`),
        written: () => void events.push('written'),
        log: silentLog,
        now: Date.now,
      },
    );
    await group.submit(item(1));
    expect(events).toEqual(['failed ECONNREFUSED', 'failed ECONNREFUSED', 'written']);
  });

  it('stops retrying once the partitions are revoked, refusing the group with the revocation', async () => {
    let revoked: Error | undefined;
    const attempts: number[] = [];
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 0, maxRows: 1_000, retryMs: 10 },
      {
        write: async (_items, attempt) => {
          attempts.push(attempt);
          if (attempts.length > 1) return;
          revoked = Object.assign(new Error('the group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
          throw new Error('clickhouse down');
        },
        revoked: () => revoked,
        log: silentLog,
        now: Date.now,
      },
    );
    await expect(group.submit(item(1))).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(attempts).toEqual([0]);
    await expect(group.submit(item(1))).rejects.toThrow('rebalancing'); // nothing more is written meanwhile
    expect(attempts).toEqual([0]);
    revoked = undefined; // partitions assigned again
    await group.submit(item(1));
    expect(attempts).toEqual([0, 0]);
  });

  it('refuses what is still waiting when stopped', async () => {
    const group = createGroupCommit(
      { intervalMs: 0, lingerMs: 10_000, maxRows: 1_000 },
      { write: async () => {}, log: silentLog, now: Date.now },
    );
    const waiting = group.submit(item(1));
    group.stop();
    await expect(waiting).rejects.toThrow('stopped');
    await expect(group.submit(item(1))).rejects.toThrow('stopped');
  });
});
