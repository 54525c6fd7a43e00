import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { consumeTopic } from '../test/support.js';
import { fen } from './ledger.js';
import { createSecretBox } from '../common/secretbox.js';
import { createRewardsWorld, testEarning, type RewardsWorld } from './test-support.js';

let world: RewardsWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}

describe('rewards consumer', () => {
  it('credits each earning once, refuses what the budget or cap cannot cover, and a full replay changes nothing', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 10, conversion: 100, dailyCap: 30, feeBps: 1000 });
    await world.fund('c1', 10_000);
    await world.rule('poor', { complete: 10, conversion: 100 });
    await world.fund('poor', 25);
    const earnings = [
      ...Array.from({ length: 20 }, (_, i) => testEarning(`u${i % 5}`, 'c1')), // 4 each: the 4th passes the 30-fen cap
      testEarning('u9', 'c1', { type: 'CONVERSION' }), // 100 fen: over the cap on its own
      ...Array.from({ length: 3 }, () => testEarning('u8', 'poor')), // 10 + 10 fit, the third does not
      testEarning('u7', 'no-rule'),
    ];
    await world.send([...earnings, ...earnings.slice(0, 5)]); // and SDK-retry duplicates
    await world.sendRaw([{ key: 'x', value: Buffer.from('not a protobuf') }]);
    const service = await world.start();
    await world.drained();

    const reasons = (await world.pool.query<{ status: string; reason: string; n: string }>('select status, reason, count(*) as n from earnings group by 1, 2 order by 1, 2')).rows;
    expect(reasons.map((r) => `${r.status}:${r.reason}:${r.n}`)).toEqual(['posted::17', 'refused:budget_exhausted:1', 'refused:daily_cap:6', 'refused:no_rule:1']);
    const balances = await world.balances();
    expect(balances.get('user_available/u0')).toBe(30n);
    expect(balances.get('user_available/u9')).toBe(0n);
    expect(balances.get('campaign_budget/c1')).toBe(10_000n - 5n * 33n);
    expect(balances.get('campaign_budget/poor')).toBe(5n);
    expect(balances.get('platform_revenue/')).toBe(5n * 3n);
    const dead = await consumeTopic(world.kafka, world.topics.deadLetters, { enough: (m) => m.length >= 1, timeoutMs: 10_000 });
    expect(dead.map((d) => d.message.headers?.dlq_reason?.toString())).toEqual([expect.stringMatching(/^undecodable/)]);

    await service.stop();
    const replay = await world.start({ REWARDS_GROUP: `${world.env.REWARDS_GROUP}_replay` });
    await world.drained(`${world.env.REWARDS_GROUP}_replay`);
    expect(await world.balances()).toEqual(balances);
    const replayed = (await replay.metrics.registry.getSingleMetric('rewards_earnings_total')!.get()).values.find((v) => v.labels.outcome === 'replayed')!.value;
    expect(replayed).toBe(earnings.length + 5);
    expect(await world.audit()).toEqual([]);
  });

  it('counts a daily cap against what was posted before, once however many of a batch share the day', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 10, conversion: 100, dailyCap: 40 });
    await world.fund('c1', 10_000);
    await world.start();
    await world.send([testEarning('u1', 'c1')]);
    await world.drained();
    await world.send(Array.from({ length: 4 }, () => testEarning('u1', 'c1'))); // one batch: 10 + 10 + 10 fit under 40, the last does not
    await world.drained();
    const reasons = (await world.pool.query<{ status: string; reason: string; n: string }>('select status, reason, count(*) as n from earnings group by 1, 2 order by 1, 2')).rows;
    expect(reasons.map((r) => `${r.status}:${r.reason}:${r.n}`)).toEqual(['posted::4', 'refused:daily_cap:1']);
    expect((await world.balances()).get('user_available/u1')).toBe(40n);
  });

  it('requests one payout, with a hold, when a linked user reaches the threshold', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 40, conversion: 0 });
    await world.fund('c1', 100_000);
    const service = await world.start({ REWARDS_REQUEUE_INTERVAL_MS: '300' });
    const linked = await world.api(service.port, 'POST', '/v1/users/alice/wechat/link', { token: world.token('alice'), body: { code: await world.oauthCode('wx-alice') } });
    expect(linked).toMatchObject({ status: 200, body: { linked: true } });

    const alice = () => testEarning('alice', 'c1');
    await world.send([alice(), alice(), testEarning('bob', 'c1'), testEarning('bob', 'c1'), testEarning('bob', 'c1')]); // alice 80: below
    await world.drained();
    await world.send([alice(), alice()]); // alice 160: a payout of it all
    await world.drained();
    await world.send([alice(), alice(), alice()]); // past the threshold again, but a payout is in flight
    await world.drained();
    const payouts = (await world.pool.query<{ payout_id: string; user_id: string; amount_fen: string; source: string }>('select * from payouts')).rows;
    expect(payouts.map((p) => [p.user_id, p.amount_fen, p.source])).toEqual([['alice', '160', 'threshold']]);
    const job = await until(() => world!.queue.getJob(payouts[0]!.payout_id), (j) => j !== undefined);
    expect(job?.data).toEqual({ payoutId: payouts[0]!.payout_id });
    const balance = await world.api(service.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') });
    expect(balance.body).toEqual({ available: 120, held: 160, paid_out: 0 });
    expect((await world.api(service.port, 'GET', '/v1/users/bob/balance', { token: world.token('bob') })).body).toEqual({ available: 120, held: 0, paid_out: 0 }); // not linked

    expect(await service.payouts.finish(payouts[0]!.payout_id, 'settle')).toBe('created');
    expect(await service.payouts.finish(payouts[0]!.payout_id, 'settle')).toBe('exists');
    expect(await service.payouts.finish(payouts[0]!.payout_id, 'release')).toBe('already_finished');
    expect((await world.api(service.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') })).body).toEqual({ available: 120, held: 0, paid_out: 160 });

    // A request whose hand-off was lost (as in a crash right after its commit) is handed off again.
    const lost = await service.payouts.requestWithdrawal('alice', fen(100), 'lost-handoff');
    expect(lost.status).toBe('created');
    const payoutId = lost.status === 'created' ? lost.payout.payoutId : '';
    expect((await until(() => world!.queue.getJob(payoutId), (j) => j !== undefined))?.id).toBe(payoutId);
    expect(await world.audit()).toEqual([]);
  });
});

describe('rewards API', () => {
  it('answers every bad request with a clear 4xx, and lets users touch only their own money', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 100, conversion: 0 });
    await world.fund('c1', 100_000);
    const s = await world.start();
    const api = (method: string, path: string, opts: Parameters<RewardsWorld['api']>[3] = {}) => world!.api(s.port, method, path, opts);
    const alice = world.token('alice');

    const table: [string, Awaited<ReturnType<typeof api>>, number, string][] = [
      ['no token', await api('GET', '/v1/users/alice/balance'), 401, 'missing_token'],
      ['a forged token', await api('GET', '/v1/users/alice/balance', { token: `${alice}x` }), 401, 'invalid_token'],
      ['another user', await api('GET', '/v1/users/bob/balance', { token: alice }), 403, 'forbidden'],
      ['the operator moving money', await api('POST', '/v1/users/alice/withdrawals', { token: world.config.REWARDS_OPERATOR_TOKEN, body: { amount: 100 }, headers: { 'idempotency-key': 'k' } }), 403, 'forbidden'],
      ['an unknown path', await api('GET', '/v1/nothing', { token: alice }), 404, 'not_found'],
      ['a wrong method', await api('DELETE', '/v1/users/alice/balance', { token: alice }), 405, 'method_not_allowed'],
      ['a bad limit', await api('GET', '/v1/users/alice/ledger?limit=0', { token: alice }), 400, 'invalid_limit'],
      ['a bad cursor', await api('GET', '/v1/users/alice/ledger?cursor=zz', { token: alice }), 400, 'invalid_cursor'],
      ['bad JSON', await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: '{nope' }), 400, 'invalid_json'],
      ['a form body', await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: 'code=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type'],
      ['a huge body', await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code: 'x'.repeat(20_000) } }), 413, 'body_too_large'],
      ['an unknown code', await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code: 'abc' } }), 422, 'invalid_code'],
      ['no Idempotency-Key', await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 100 } }), 400, 'missing_idempotency_key'],
      ['a fractional amount', await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 1.5 }, headers: { 'idempotency-key': 'k1' } }), 400, 'invalid_amount'],
      ['a tiny amount', await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 99 }, headers: { 'idempotency-key': 'k1' } }), 422, 'amount_below_minimum'],
      ['no linked account', await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 100 }, headers: { 'idempotency-key': 'k1' } }), 422, 'wechat_not_linked'],
    ];
    for (const [name, res, status, code] of table) expect({ name, status: res.status, error: res.body.error }).toEqual({ name, status, error: code });

    const code = await world.oauthCode('wx-alice');
    expect((await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code } })).status).toBe(200);
    expect((await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code } })).body.error).toBe('invalid_code'); // single use
    const taken = await api('POST', '/v1/users/bob/wechat/link', { token: world.token('bob'), body: { code: await world.oauthCode('wx-alice') } });
    expect([taken.status, taken.body.error]).toEqual([409, 'wechat_account_taken']);
    const stored = (await world.pool.query<{ openid_enc: Buffer }>('select openid_enc from wechat_links')).rows[0]!.openid_enc;
    const openid = createSecretBox(Buffer.from(world.config.REWARDS_ENCRYPTION_KEY, 'base64')).open(stored);
    expect(openid).toMatch(/^o[\w-]{27}$/);
    expect(stored.includes(Buffer.from(openid))).toBe(false);

    expect((await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 100 }, headers: { 'idempotency-key': 'k1' } })).body.error).toBe('insufficient_funds');
    await world.send([testEarning('alice', 'c1'), testEarning('alice', 'c1'), testEarning('alice', 'c1')]);
    await world.drained();
    // 300 earned; the threshold payout took it all: the balance is held.
    expect((await api('GET', '/v1/users/alice/balance', { token: alice })).body).toEqual({ available: 0, held: 300, paid_out: 0 });
    const [held] = (await world.pool.query<{ payout_id: string }>('select payout_id from payouts')).rows;
    await s.payouts.finish(held!.payout_id, 'release');

    const w1 = await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 250 }, headers: { 'idempotency-key': 'w1' } });
    const again = await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 250 }, headers: { 'idempotency-key': 'w1' } });
    const reused = await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 150 }, headers: { 'idempotency-key': 'w1' } });
    expect([w1.status, again.status, again.headers.get('idempotent-replayed'), again.body.payout_id]).toEqual([202, 202, 'true', w1.body.payout_id]);
    expect([reused.status, reused.body.error]).toEqual([409, 'idempotency_key_reused']);
    expect((await api('GET', '/v1/users/alice/balance', { token: world.config.REWARDS_OPERATOR_TOKEN })).body).toEqual({ available: 50, held: 250, paid_out: 0 });

    // History, newest first, two pages of 4 then the rest.
    const page1 = await api('GET', '/v1/users/alice/ledger?limit=4', { token: alice });
    const page2 = await api('GET', `/v1/users/alice/ledger?limit=4&cursor=${page1.body.next_cursor as string}`, { token: alice });
    const entries = [...(page1.body.entries as { kind: string; account: string; amount: number }[]), ...(page2.body.entries as { kind: string; account: string; amount: number }[])];
    expect(entries.map((e) => `${e.kind} ${e.account} ${e.amount}`)).toEqual([
      'hold held 250', 'hold available -250', 'release available 300', 'release held -300', 'hold held 300', 'hold available -300',
      'earning available 100', 'earning available 100',
    ]);
    expect(page2.body.next_cursor).not.toBeNull();
    expect(await world.audit()).toEqual([]);
  });
});
