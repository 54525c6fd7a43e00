import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { consumeTopic } from '../test/support.js';
import { createSecretBox } from '../common/secretbox.js';
import { signUserToken } from '../common/auth.js';
import { fen } from '../common/money.js';
import { createEarningReviews } from './reviews-pg.js';
import { createPgLedger } from './ledger-pg.js';
import { createRewardsWorld, person, testEarning, type RewardsWorld } from './test-support.js';

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
    await world.campaign('no-rule');
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

    const reasons = (
      await world.pool.query<{ status: string; reason: string; n: string }>(
        'select status, reason, count(*) as n from earnings group by 1, 2 order by 1, 2',
      )
    ).rows;
    expect(reasons.map((r) => `${r.status}:${r.reason}:${r.n}`)).toEqual([
      'posted::17',
      'refused:budget_exhausted:1',
      'refused:daily_cap:6',
      'refused:no_rule:1',
    ]);
    const balances = await world.balances();
    expect(balances.get(`user_available/${person('u0')}`)).toBe(30n);
    expect(balances.get(`user_available/${person('u9')}`)).toBe(0n);
    expect(balances.get('campaign_budget/c1')).toBe(10_000n - 5n * 33n);
    expect(balances.get('campaign_budget/poor')).toBe(5n);
    expect(balances.get('platform_revenue/')).toBe(5n * 3n);
    const dead = await consumeTopic(world.kafka, world.topics.deadLetters, {
      enough: (m) => m.length >= 1,
      timeoutMs: 10_000,
    });
    expect(dead.map((d) => d.message.headers?.dlq_reason?.toString())).toEqual([expect.stringMatching(/^undecodable/)]);

    await service.stop();
    const replay = await world.start({ REWARDS_GROUP: `${world.env.REWARDS_GROUP}_replay` });
    await world.drained(`${world.env.REWARDS_GROUP}_replay`);
    expect(await world.balances()).toEqual(balances);
    const replayed = (await replay.metrics.registry.getSingleMetric('rewards_earnings_total')!.get()).values.find(
      (v) => v.labels.outcome === 'replayed',
    )!.value;
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
    const reasons = (
      await world.pool.query<{ status: string; reason: string; n: string }>(
        'select status, reason, count(*) as n from earnings group by 1, 2 order by 1, 2',
      )
    ).rows;
    expect(reasons.map((r) => `${r.status}:${r.reason}:${r.n}`)).toEqual(['posted::4', 'refused:daily_cap:1']);
    expect((await world.balances()).get(`user_available/${person('u1')}`)).toBe(40n);
  });

  it('mints nothing for an unconfirmed earning, a campaign of another app or none, or backdated device times within one server day', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 10, conversion: 100, dailyCap: 20 });
    await world.fund('c1', 10_000);
    await world.campaign('theirs', 'other.app');
    await world.rule('theirs', { complete: 10, conversion: 100 });
    await world.fund('theirs', 10_000);
    await world.campaign('orphan', null);
    await world.rule('orphan', { complete: 10, conversion: 100 });
    await world.fund('orphan', 10_000);
    await world.start();
    const day = 86_400_000;
    await world.send([
      testEarning('forger', 'c1', { confirmation: '' }), // a forged beacon: no server confirmed it
      testEarning('crosser', 'theirs'), // test.app's key against other.app's campaign
      testEarning('crosser', 'orphan'),
      // Backdated: each claims another day by its device time, all verified (received) today.
      ...[0, 1, 2, 3].map((d) => testEarning('backdater', 'c1', { eventTime: Date.now() - d * day })),
    ]);
    await world.drained();
    const rows = (
      await world.pool.query<{ user_id: string; status: string; reason: string; n: string }>(
        'select user_id, status, reason, count(*) as n from earnings group by 1, 2, 3 order by 1, 2, 3',
      )
    ).rows;
    expect(rows.map((r) => `${r.user_id} ${r.status}:${r.reason}:${r.n}`)).toEqual([
      `${person('backdater')} posted::2`,
      `${person('backdater')} refused:daily_cap:2`,
      `${person('crosser')} refused:campaign_not_in_app:2`,
      `${person('forger')} refused:unconfirmed:1`,
    ]);
    const balances = await world.balances();
    expect([...balances].filter(([k, v]) => k.startsWith('user_available/') && v > 0n)).toEqual([
      [`user_available/${person('backdater')}`, 20n],
    ]);
    expect(await world.audit()).toEqual([]);
  });

  it('holds what passes a platform daily limit for review, and pays it once when approved', async () => {
    world = await createRewardsWorld({ partitions: 1 }); // one partition: the earnings are decided in the order sent
    await world.rule('c1', { complete: 10, conversion: 100, feeBps: 1000 });
    await world.fund('c1', 1_000);
    await world.start({ REWARDS_USER_DAILY_LIMIT_FEN: '20', REWARDS_DEVICE_DAILY_LIMIT_FEN: '30' });
    await world.send([
      ...[1, 2, 3].map(() => testEarning('busy', 'c1')), // 10 + 10 under the user limit, the third is held
      ...['p1', 'p2', 'p3', 'p4'].map((u) => testEarning(u, 'c1', { deviceId: 'farm-1' })), // one device: 30, the fourth is held
    ]);
    await world.drained();
    const held = (
      await world.pool.query<{ earning_id: string; user_id: string; reason: string }>(
        "select earning_id, user_id, reason from earnings where status = 'review' order by user_id",
      )
    ).rows;
    expect(held.map((r) => [r.user_id, r.reason])).toEqual([
      [person('busy'), 'user_daily_limit'],
      [person('p4'), 'device_daily_limit'],
    ]);
    const balance = async (u: string) => (await world!.balances()).get(`user_available/${person(u)}`) ?? 0n;
    expect([await balance('busy'), await balance('p4')]).toEqual([20n, 0n]);

    // Approved by the command: paid once from the budget, with its fee; a second decision is refused.
    const review = (decision: string, id?: string) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'cli-main.ts'), 'review', decision, ...(id ? [id] : [])],
        { env: { ...process.env, ...world!.env, DEV_MODE: 'true' }, encoding: 'utf8' },
      );
    // The operator finds what waits for a decision with the command, not in SQL.
    const listed = review('list');
    expect([
      listed.status,
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').slice(0, 5).join(' '))
        .sort(),
    ]).toEqual([
      0,
      [
        `${held[0]!.earning_id} test.app busy c1 user_daily_limit`,
        `${held[1]!.earning_id} test.app p4 c1 device_daily_limit`,
      ].sort(),
    ]);
    const approved = review('approve', held[0]!.earning_id);
    expect([approved.status, approved.stdout]).toEqual([0, expect.stringContaining('approved')]);
    expect(review('approve', held[0]!.earning_id).status).toBe(1);
    const reviews = createEarningReviews({ ledger: createPgLedger({ pool: world.pool }) });
    expect(await reviews.reject(held[0]!.earning_id)).toBe('already_decided');
    expect(await reviews.reject(held[1]!.earning_id)).toBe('rejected');
    expect(await reviews.approve(held[1]!.earning_id)).toBe('already_decided');
    expect(await reviews.approve(testEarning('nobody', 'c1').earningId)).toBe('not_found');
    expect([await balance('busy'), await balance('p4')]).toEqual([30n, 0n]);
    expect((await world.balances()).get('campaign_budget/c1')).toBe(1_000n - 6n * 11n);
    const decided = (
      await world.pool.query<{ status: string; n: string }>(
        'select status, count(*) as n from earnings where reviewed_at is not null group by 1 order by 1',
      )
    ).rows;
    expect(decided.map((r) => `${r.status}:${r.n}`)).toEqual(['posted:1', 'refused:1']);
    // The database refuses any other change of a recorded earning.
    expect(
      await world.pool.query("update earnings set amount_fen = 1 where status = 'posted'").then(
        () => 'ok',
        (err: Error) => err.message,
      ),
    ).toMatch(/append-only/);
    expect(await world.audit()).toEqual([]);
  });

  it('refuses to approve what the budget cannot cover, and leaves it in review', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 10, conversion: 100 });
    await world.fund('c1', 15);
    await world.start({ REWARDS_USER_DAILY_LIMIT_FEN: '10' });
    await world.send([testEarning('u1', 'c1'), testEarning('u1', 'c1')]);
    await world.drained();
    const [held] = (
      await world.pool.query<{ earning_id: string }>("select earning_id from earnings where status = 'review'")
    ).rows;
    const reviews = createEarningReviews({ ledger: createPgLedger({ pool: world.pool }) });
    expect(await reviews.approve(held!.earning_id)).toBe('budget_exhausted');
    await world.fund('c1', 100);
    expect(await reviews.approve(held!.earning_id)).toBe('approved');
    expect((await world.balances()).get(`user_available/${person('u1')}`)).toBe(20n);
    expect(await world.audit()).toEqual([]);
  });

  it("approves no held earning past its campaign's daily cap, and decides each once under concurrent decisions", async () => {
    world = await createRewardsWorld({ partitions: 1 });
    await world.rule('c1', { complete: 10, conversion: 100, dailyCap: 30 });
    await world.fund('c1', 1_000);
    await world.start({ REWARDS_USER_DAILY_LIMIT_FEN: '10' });
    // 10 posted; each of the next three fits the cap against what was posted (20 ≤ 30), so each is held by the user limit.
    await world.send(Array.from({ length: 4 }, () => testEarning('u1', 'c1')));
    await world.drained();
    const held = (
      await world.pool.query<{ earning_id: string }>(
        "select earning_id from earnings where status = 'review' order by earning_id",
      )
    ).rows.map((r) => r.earning_id);
    expect(held).toHaveLength(3);
    const reviews = createEarningReviews({ ledger: createPgLedger({ pool: world.pool }) });
    // Two operators approve the first at once, a third rejects it: one decision wins.
    const raced = await Promise.all([reviews.approve(held[0]!), reviews.approve(held[0]!), reviews.reject(held[0]!)]);
    expect(raced.filter((r) => r === 'approved' || r === 'rejected')).toHaveLength(1);
    expect(raced.filter((r) => r === 'already_decided')).toHaveLength(2);
    const results = await Promise.all(held.slice(1).map((id) => reviews.approve(id)));
    const balance = (await world.balances()).get(`user_available/${person('u1')}`)!;
    expect(balance).toBeLessThanOrEqual(30n); // the advertiser's cap, whoever approves
    expect(results.filter((r) => r === 'daily_cap').length).toBe(raced.includes('approved') ? 1 : 0);
    expect(await world.audit()).toEqual([]);
  });

  it('requests one payout, with a hold, when a linked user reaches the threshold', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 40, conversion: 0 });
    await world.fund('c1', 100_000);
    const service = await world.start({ REWARDS_REQUEUE_INTERVAL_MS: '300' });
    const linked = await world.api(service.port, 'POST', '/v1/users/alice/wechat/link', {
      token: world.token('alice'),
      body: { code: await world.oauthCode('wx-alice') },
    });
    expect(linked).toMatchObject({ status: 200, body: { linked: true } });

    const alice = () => testEarning('alice', 'c1');
    await world.send([alice(), alice(), testEarning('bob', 'c1'), testEarning('bob', 'c1'), testEarning('bob', 'c1')]); // alice 80: below
    await world.drained();
    await world.send([alice(), alice()]); // alice 160: a payout of it all
    await world.drained();
    await world.send([alice(), alice(), alice()]); // past the threshold again, but a payout is in flight
    await world.drained();
    const payouts = (
      await world.pool.query<{ payout_id: string; user_id: string; amount_fen: string; source: string }>(
        'select * from payouts',
      )
    ).rows;
    expect(payouts.map((p) => [p.user_id, p.amount_fen, p.source])).toEqual([[person('alice'), '160', 'threshold']]);
    const job = await until(
      () => world!.queue.getJob(payouts[0]!.payout_id),
      (j) => j !== undefined,
    );
    expect(job?.data).toEqual({ payoutId: payouts[0]!.payout_id });
    const balance = await world.api(service.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') });
    expect(balance.body).toEqual({ available: 120, held: 160, paid_out: 0 });
    expect((await world.api(service.port, 'GET', '/v1/users/bob/balance', { token: world.token('bob') })).body).toEqual(
      { available: 120, held: 0, paid_out: 0 },
    ); // not linked

    expect(await service.payouts.finish(payouts[0]!.payout_id, 'settle')).toBe('created');
    expect(await service.payouts.finish(payouts[0]!.payout_id, 'settle')).toBe('exists');
    expect(await service.payouts.finish(payouts[0]!.payout_id, 'release')).toBe('already_finished');
    expect(
      (await world.api(service.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') })).body,
    ).toEqual({ available: 120, held: 0, paid_out: 160 });

    // A request whose hand-off was lost (as in a crash right after its commit) is handed off again.
    const lost = await service.payouts.requestWithdrawal(
      { appId: 'test.app', userId: 'alice' },
      fen(100),
      'lost-handoff',
    );
    expect(lost.status).toBe('created');
    const payoutId = lost.status === 'created' ? lost.payout.payoutId : '';
    expect(
      (
        await until(
          () => world!.queue.getJob(payoutId),
          (j) => j !== undefined,
        )
      )?.id,
    ).toBe(payoutId);
    expect(await world.audit()).toEqual([]);
  });
});

describe('rewards API', () => {
  it('answers every bad request with a clear 4xx, and lets users touch only their own money', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 100, conversion: 0 });
    await world.fund('c1', 100_000);
    const s = await world.start();
    const api = (method: string, path: string, opts: Parameters<RewardsWorld['api']>[3] = {}) =>
      world!.api(s.port, method, path, opts);
    const alice = world.token('alice');

    const table: [string, Awaited<ReturnType<typeof api>>, number, string][] = [
      ['no token', await api('GET', '/v1/users/alice/balance'), 401, 'missing_token'],
      ['a forged token', await api('GET', '/v1/users/alice/balance', { token: `${alice}x` }), 401, 'invalid_token'],
      ['another user', await api('GET', '/v1/users/bob/balance', { token: alice }), 403, 'forbidden'],
      [
        'the operator moving money',
        await api('POST', '/v1/users/alice/withdrawals', {
          token: world.config.REWARDS_OPERATOR_TOKEN,
          body: { amount: 100 },
          headers: { 'idempotency-key': 'k', 'app-id': 'test.app' },
        }),
        403,
        'forbidden',
      ],
      [
        'the operator naming no app',
        await api('GET', '/v1/users/alice/balance', { token: world.config.REWARDS_OPERATOR_TOKEN }),
        400,
        'missing_app_id',
      ],
      [
        'the operator naming a malformed app',
        await api('GET', '/v1/users/alice/balance', {
          token: world.config.REWARDS_OPERATOR_TOKEN,
          headers: { 'app-id': 'a:b' },
        }),
        400,
        'invalid_app_id',
      ],
      [
        'a user token naming another app',
        await api('GET', '/v1/users/alice/balance', { token: alice, headers: { 'app-id': 'other.app' } }),
        403,
        'forbidden',
      ],
      ['an unknown path', await api('GET', '/v1/nothing', { token: alice }), 404, 'not_found'],
      ['a wrong method', await api('DELETE', '/v1/users/alice/balance', { token: alice }), 405, 'method_not_allowed'],
      ['a bad limit', await api('GET', '/v1/users/alice/ledger?limit=0', { token: alice }), 400, 'invalid_limit'],
      ['a bad cursor', await api('GET', '/v1/users/alice/ledger?cursor=zz', { token: alice }), 400, 'invalid_cursor'],
      [
        'bad JSON',
        await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: '{nope' }),
        400,
        'invalid_json',
      ],
      [
        'a form body',
        await api('POST', '/v1/users/alice/wechat/link', {
          token: alice,
          body: 'code=x',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        415,
        'unsupported_media_type',
      ],
      [
        'a huge body',
        await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code: 'x'.repeat(20_000) } }),
        413,
        'body_too_large',
      ],
      [
        'an unknown code',
        await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code: 'abc' } }),
        422,
        'invalid_code',
      ],
      [
        'no Idempotency-Key',
        await api('POST', '/v1/users/alice/withdrawals', { token: alice, body: { amount: 100 } }),
        400,
        'missing_idempotency_key',
      ],
      [
        'a fractional amount',
        await api('POST', '/v1/users/alice/withdrawals', {
          token: alice,
          body: { amount: 1.5 },
          headers: { 'idempotency-key': 'k1' },
        }),
        400,
        'invalid_amount',
      ],
      [
        'a tiny amount',
        await api('POST', '/v1/users/alice/withdrawals', {
          token: alice,
          body: { amount: 99 },
          headers: { 'idempotency-key': 'k1' },
        }),
        422,
        'amount_below_minimum',
      ],
      [
        'no linked account',
        await api('POST', '/v1/users/alice/withdrawals', {
          token: alice,
          body: { amount: 100 },
          headers: { 'idempotency-key': 'k1' },
        }),
        422,
        'wechat_not_linked',
      ],
    ];
    for (const [name, res, status, code] of table)
      expect({ name, status: res.status, error: res.body.error }).toEqual({ name, status, error: code });

    const code = await world.oauthCode('wx-alice');
    expect((await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code } })).status).toBe(200);
    expect((await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: { code } })).body.error).toBe(
      'invalid_code',
    ); // single use
    const taken = await api('POST', '/v1/users/bob/wechat/link', {
      token: world.token('bob'),
      body: { code: await world.oauthCode('wx-alice') },
    });
    expect([taken.status, taken.body.error]).toEqual([409, 'wechat_account_taken']);
    const stored = (await world.pool.query<{ openid_enc: Buffer }>('select openid_enc from wechat_links')).rows[0]!
      .openid_enc;
    const openid = createSecretBox(Buffer.from(world.config.REWARDS_ENCRYPTION_KEY, 'base64')).open(stored);
    expect(openid).toMatch(/^o[\w-]{27}$/);
    expect(stored.includes(Buffer.from(openid))).toBe(false);

    expect(
      (
        await api('POST', '/v1/users/alice/withdrawals', {
          token: alice,
          body: { amount: 100 },
          headers: { 'idempotency-key': 'k1' },
        })
      ).body.error,
    ).toBe('insufficient_funds');
    await world.send([testEarning('alice', 'c1'), testEarning('alice', 'c1'), testEarning('alice', 'c1')]);
    await world.drained();
    // 300 earned; the threshold payout took it all: the balance is held.
    expect((await api('GET', '/v1/users/alice/balance', { token: alice })).body).toEqual({
      available: 0,
      held: 300,
      paid_out: 0,
    });
    const [held] = (await world.pool.query<{ payout_id: string }>('select payout_id from payouts')).rows;
    await s.payouts.finish(held!.payout_id, 'release');

    const w1 = await api('POST', '/v1/users/alice/withdrawals', {
      token: alice,
      body: { amount: 250 },
      headers: { 'idempotency-key': 'w1' },
    });
    const again = await api('POST', '/v1/users/alice/withdrawals', {
      token: alice,
      body: { amount: 250 },
      headers: { 'idempotency-key': 'w1' },
    });
    const reused = await api('POST', '/v1/users/alice/withdrawals', {
      token: alice,
      body: { amount: 150 },
      headers: { 'idempotency-key': 'w1' },
    });
    expect([w1.status, again.status, again.headers.get('idempotent-replayed'), again.body.payout_id]).toEqual([
      202,
      202,
      'true',
      w1.body.payout_id,
    ]);
    expect([reused.status, reused.body.error]).toEqual([409, 'idempotency_key_reused']);
    expect(
      (
        await api('GET', '/v1/users/alice/balance', {
          token: world.config.REWARDS_OPERATOR_TOKEN,
          headers: { 'app-id': 'test.app' },
        })
      ).body,
    ).toEqual({ available: 50, held: 250, paid_out: 0 });
    expect(
      (await api('GET', '/v1/users/alice/balance', { token: alice, headers: { 'app-id': 'test.app' } })).body,
    ).toEqual({ available: 50, held: 250, paid_out: 0 });

    // Another app's "alice" is another person: her token reads and moves only her own (empty) money.
    const otherAlice = world.token('alice', 'other.app');
    expect((await api('GET', '/v1/users/alice/balance', { token: otherAlice })).body).toEqual({
      available: 0,
      held: 0,
      paid_out: 0,
    });
    expect((await api('GET', '/v1/users/alice/ledger', { token: otherAlice })).body).toEqual({
      entries: [],
      next_cursor: null,
    });
    // The same Idempotency-Key as test.app's alice used: not her payout replayed, a request of her own.
    const otherW1 = await api('POST', '/v1/users/alice/withdrawals', {
      token: otherAlice,
      body: { amount: 250 },
      headers: { 'idempotency-key': 'w1' },
    });
    expect([otherW1.status, otherW1.body.error]).toEqual([422, 'wechat_not_linked']);
    expect(
      (
        await api('GET', '/v1/users/alice/balance', {
          token: world.config.REWARDS_OPERATOR_TOKEN,
          headers: { 'app-id': 'other.app' },
        })
      ).body,
    ).toEqual({ available: 0, held: 0, paid_out: 0 });
    // And she cannot link the WeChat account test.app's alice linked: one WeChat wallet, one person.
    const taken2 = await api('POST', '/v1/users/alice/wechat/link', {
      token: otherAlice,
      body: { code: await world.oauthCode('wx-alice') },
    });
    expect([taken2.status, taken2.body.error]).toEqual([409, 'wechat_account_taken']);

    // History, newest first, two pages of 4 then the rest.
    const page1 = await api('GET', '/v1/users/alice/ledger?limit=4', { token: alice });
    const page2 = await api('GET', `/v1/users/alice/ledger?limit=4&cursor=${page1.body.next_cursor as string}`, {
      token: alice,
    });
    const entries = [
      ...(page1.body.entries as { kind: string; account: string; amount: number }[]),
      ...(page2.body.entries as { kind: string; account: string; amount: number }[]),
    ];
    expect(entries.map((e) => `${e.kind} ${e.account} ${e.amount}`)).toEqual([
      'hold held 250',
      'hold available -250',
      'release available 300',
      'release held -300',
      'hold held 300',
      'hold available -300',
      'earning available 100',
      'earning available 100',
    ]);
    expect(page2.body.next_cursor).not.toBeNull();
    expect(await world.audit()).toEqual([]);
  });
});

/**
 * A raw HTTP/1.0 request, one byte per character (for what fetch refuses to send: a NUL in a header,
 * bytes that are not UTF-8): status and JSON body. HTTP/1.0, so the answer is not chunked.
 */
function rawRequest(port: number, request: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => socket.end(request, 'latin1'));
    socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = reply.split('\r\n\r\n', 2);
      try {
        resolve({
          status: Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1]),
          body: (body ? JSON.parse(body) : {}) as Record<string, unknown>,
        });
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

describe('rewards API edges (issue 21)', () => {
  it('answers bad bytes and out-of-range input with 400, never 503', async () => {
    world = await createRewardsWorld();
    const s = await world.start();
    const operator = world.config.REWARDS_OPERATOR_TOKEN;
    const alice = world.token('alice');
    const api = (method: string, path: string, opts: Parameters<RewardsWorld['api']>[3] = {}) =>
      world!.api(s.port, method, path, opts);
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    const withdraw = (key: string, body: unknown = { amount: 100 }) =>
      api('POST', '/v1/users/alice/withdrawals', { token: alice, body, headers: { 'idempotency-key': key } });
    const raw = (headers: string, body: string) =>
      rawRequest(
        s.port,
        `POST /v1/users/alice/withdrawals HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer ${alice}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${headers}\r\n${body}`,
      );

    const table: [string, { status: number; body: Record<string, unknown> }, string][] = [
      ['a NUL user id', await api('GET', '/v1/users/%00/balance', { token: operator }), 'invalid_user_id'],
      ['a NUL inside a user id', await api('GET', '/v1/users/a%00b/ledger', { token: operator }), 'invalid_user_id'],
      [
        'a lone surrogate (invalid UTF-8) user id',
        await api('GET', '/v1/users/%ED%A0%80/balance', { token: operator }),
        'invalid_user_id',
      ],
      [
        'invalid percent-encoding',
        await api('GET', '/v1/users/%E0%A4%A/balance', { token: operator }),
        'invalid_user_id',
      ],
      ['a slash in a user id', await api('GET', '/v1/users/a%2Fb/balance', { token: operator }), 'invalid_user_id'],
      [
        'a user id over 64 characters',
        await api('GET', `/v1/users/${'u'.repeat(65)}/balance`, { token: operator }),
        'invalid_user_id',
      ],
      [
        'a cursor past int8',
        await api('GET', `/v1/users/alice/ledger?cursor=${cursor('9223372036854775808')}`, { token: alice }),
        'invalid_cursor',
      ],
      [
        'a cursor of 19 nines',
        await api('GET', `/v1/users/alice/ledger?cursor=${cursor('9999999999999999999')}`, { token: alice }),
        'invalid_cursor',
      ],
      [
        'a cursor that is not a number',
        await api('GET', `/v1/users/alice/ledger?cursor=${cursor('12abc')}`, { token: alice }),
        'invalid_cursor',
      ],
      [
        'a cursor that is not base64url',
        await api('GET', '/v1/users/alice/ledger?cursor=MT%00k', { token: alice }),
        'invalid_cursor',
      ],
      [
        'a limit over the maximum',
        await api('GET', '/v1/users/alice/ledger?limit=201', { token: alice }),
        'invalid_limit',
      ],
      ['a negative limit', await api('GET', '/v1/users/alice/ledger?limit=-1', { token: alice }), 'invalid_limit'],
      [
        'a limit in exponent form',
        await api('GET', '/v1/users/alice/ledger?limit=1e2', { token: alice }),
        'invalid_limit',
      ],
      [
        'a huge limit',
        await api('GET', `/v1/users/alice/ledger?limit=${'9'.repeat(400)}`, { token: alice }),
        'invalid_limit',
      ],
      ['an Idempotency-Key over 128 characters', await withdraw('k'.repeat(129)), 'invalid_idempotency_key'],
      ['an Idempotency-Key with a space', await withdraw('a b'), 'invalid_idempotency_key'],
      ['an Idempotency-Key with a NUL', await raw('Idempotency-Key: a\0b\r\n', '{"amount":100}'), 'bad_request'],
      ['a body string with a NUL', await withdraw('k1', '{"amount":100,"note":"a\\u0000b"}'), 'invalid_json'],
      ['a body key with a lone surrogate', await withdraw('k1', '{"amount":100,"\\ud800":1}'), 'invalid_json'],
      [
        'a body that is not UTF-8',
        await raw('Idempotency-Key: k1\r\n', '{"amount":100,"note":"\xff"}'),
        'invalid_json',
      ],
      [
        'a NUL in an OAuth code',
        await api('POST', '/v1/users/alice/wechat/link', { token: alice, body: '{"code":"a\\u0000"}' }),
        'invalid_json',
      ],
      [
        'a request target that is no URL',
        await rawRequest(s.port, 'GET // HTTP/1.0\r\nHost: x\r\n\r\n'),
        'bad_request',
      ],
    ];
    for (const [name, res, code] of table)
      expect({ name, status: res.status, error: res.body.error, message: typeof res.body.message }).toEqual({
        name,
        status: 400,
        error: code,
        message: 'string',
      });
    expect((await api('GET', '/v1/users/alice/balance', { token: alice })).status).toBe(200); // and the service is still up
  });

  it('serves /metrics on the ops listener only, and /healthz and /readyz on the public port', async () => {
    world = await createRewardsWorld();
    const s = await world.start();
    expect(s.opsPort).not.toBe(s.port);
    const status = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    expect(await status(s.port, '/metrics')).toBe(404);
    expect(await status(s.port, '/healthz')).toBe(200);
    expect([200, 503]).toContain(await status(s.port, '/readyz'));
    const metrics = await fetch(`http://127.0.0.1:${s.opsPort}/metrics`);
    expect([metrics.status, await metrics.text()]).toEqual([
      200,
      expect.stringContaining('rewards_http_requests_total'),
    ]);
    expect(await status(s.opsPort, '/healthz')).toBe(200);
  });

  it('refuses forged and over-long tokens with 401', async () => {
    world = await createRewardsWorld();
    const s = await world.start({ REWARDS_TOKEN_MAX_TTL_S: '3600' });
    const [header, payload] = world.token('alice').split('.');
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const forged: [string, string][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`],
      ['HS512 header', `${b64({ alg: 'HS512', typ: 'JWT' })}.${payload}.${world.token('alice').split('.')[2]}`],
      [
        'another user in the payload',
        `${header}.${b64({ sub: 'bob', iat: now, exp: now + 60 })}.${world.token('alice').split('.')[2]}`,
      ],
      [
        'a lifetime over REWARDS_TOKEN_MAX_TTL_S',
        signUserToken(
          world.config.REWARDS_TOKEN_SECRET,
          { appId: 'test.app', userId: 'alice' },
          { ttlS: 3_601, nowMs: Date.now() },
        ),
      ],
      [
        'another secret',
        signUserToken('z'.repeat(40), { appId: 'test.app', userId: 'alice' }, { ttlS: 60, nowMs: Date.now() }),
      ],
      // Validly signed, but of before issue 22: a user id with no app names no one person.
      [
        'no app claim',
        (() => {
          const signed = `${header}.${b64({ sub: 'alice', iat: now, exp: now + 60 })}`;
          return `${signed}.${createHmac('sha256', world.config.REWARDS_TOKEN_SECRET).update(signed).digest('base64url')}`;
        })(),
      ],
    ];
    for (const [name, token] of forged) {
      const res = await world.api(s.port, 'GET', '/v1/users/alice/balance', { token });
      expect({ name, status: res.status, error: res.body.error }).toEqual({
        name,
        status: 401,
        error: 'invalid_token',
      });
    }
    expect((await world.api(s.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') })).status).toBe(
      200,
    );
  });

  it("accepts a user token only under a live secret of its own app: app A cannot mint for app B's user, and a revoke takes effect without restart", async () => {
    world = await createRewardsWorld();
    await world.campaign('ca', 'app.a');
    await world.campaign('cb', 'app.b');
    await world.rule('cb', { complete: 300, conversion: 0 });
    await world.fund('cb', 100_000);
    const s = await world.start({ REWARDS_TOKEN_SECRETS_REFRESH_MS: '60000' }); // NOTIFY, not the timer, must carry the revoke
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cli-main.ts'), ...args], {
        env: { ...process.env, ...world!.env, DEV_MODE: 'true' },
        encoding: 'utf8',
      });
    const issue = (appId: string) => {
      const out = cli('app-secret', appId);
      expect([out.status, out.stdout]).toEqual([0, expect.stringMatching(/^\d+ [A-Za-z0-9_-]{43}\n$/)]);
      const [id, secret] = out.stdout.trim().split(' ') as [string, string];
      return { id, secret };
    };
    const unknown = cli('app-secret', 'no.such.app');
    expect([unknown.status, unknown.stderr]).toEqual([2, expect.stringContaining('no app no.such.app')]);
    const [a, b1, b2] = [issue('app.a'), issue('app.b'), issue('app.b')];
    const mint = (secret: string, appId: string) =>
      signUserToken(secret, { appId, userId: 'u1' }, { ttlS: 600, nowMs: Date.now() });
    // B's u1 has money (earned before linking: no threshold payout takes it) and a WeChat link.
    await world.send([testEarning('u1', 'cb', { appId: 'app.b' })]);
    await world.drained();
    const linked = await world.api(s.port, 'POST', '/v1/users/u1/wechat/link', {
      token: mint(b1.secret, 'app.b'),
      body: { code: await world.oauthCode('wx-b-u1') },
    });
    expect(linked.status).toBe(200);

    const balance = (token: string) => world!.api(s.port, 'GET', '/v1/users/u1/balance', { token });
    const withdraw = (token: string, key: string) =>
      world!.api(s.port, 'POST', '/v1/users/u1/withdrawals', {
        token,
        body: { amount: 100 },
        headers: { 'idempotency-key': key },
      });
    const relink = (token: string) =>
      world!.api(s.port, 'POST', '/v1/users/u1/wechat/link', { token, body: { code: 'abc' } });
    // App A's backend, holding only A's secret, mints a token for (app.b, u1): refused everywhere.
    const forged = mint(a.secret, 'app.b');
    for (const [name, res] of [
      ['balance', await balance(forged)],
      ['withdrawal', await withdraw(forged, 'f1')],
      ['relink', await relink(forged)],
    ] as const) {
      expect({ name, status: res.status, error: res.body.error }).toEqual({
        name,
        status: 401,
        error: 'invalid_token',
      });
    }
    expect((await world.pool.query('select 1 from payouts')).rowCount).toBe(0);
    // B's own secrets (both, a rotation) and the platform's key act for B's u1; A's secret for A's u1.
    for (const token of [
      mint(b1.secret, 'app.b'),
      mint(b2.secret, 'app.b'),
      mint(world.config.REWARDS_TOKEN_SECRET, 'app.b'),
    ]) {
      expect((await balance(token)).body).toEqual({ available: 300, held: 0, paid_out: 0 });
    }
    expect((await balance(mint(a.secret, 'app.a'))).status).toBe(200);

    // Revoked by the command: refused within moments by the running service; b2 still works.
    const revoked = cli('app-secret-revoke', b1.id);
    expect([revoked.status, revoked.stdout]).toEqual([0, expect.stringContaining(`revoked ${b1.id} (app app.b)`)]);
    const refused = await until(
      () => balance(mint(b1.secret, 'app.b')),
      (r) => r.status === 401,
      5_000,
    );
    expect([refused.status, refused.body.error]).toEqual([401, 'invalid_token']);
    expect((await withdraw(mint(b1.secret, 'app.b'), 'r1')).status).toBe(401);
    expect((await balance(mint(b2.secret, 'app.b'))).status).toBe(200);
    expect(cli('app-secret-revoke', '999999').status).toBe(1);
    expect(await world.audit()).toEqual([]);
  });

  it('refuses a withdrawal while a payout is in flight (409 payout_in_flight), replays the one in flight, and takes one again once it is finished', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 500, conversion: 0 });
    await world.fund('c1', 100_000);
    const s = await world.start();
    await world.send([testEarning('alice', 'c1')]); // earned before linking: no threshold payout takes it
    await world.drained();
    expect(
      (
        await world.api(s.port, 'POST', '/v1/users/alice/wechat/link', {
          token: world.token('alice'),
          body: { code: await world.oauthCode('wx-alice') },
        })
      ).status,
    ).toBe(200);
    const withdraw = (key: string, amount = 100) =>
      world!.api(s.port, 'POST', '/v1/users/alice/withdrawals', {
        token: world!.token('alice'),
        body: { amount },
        headers: { 'idempotency-key': key },
      });
    const first = await withdraw('w1');
    expect(first.status).toBe(202);
    const payoutId = first.body.payout_id as string;
    // Until its outcome (whatever the payouts service is doing with it: payouts.state stays requested), it is in flight.
    const second = await withdraw('w2');
    expect({ status: second.status, error: second.body.error }).toEqual({ status: 409, error: 'payout_in_flight' });
    const replayed = await withdraw('w1');
    expect([replayed.status, replayed.headers.get('idempotent-replayed'), replayed.body.payout_id]).toEqual([
      202,
      'true',
      payoutId,
    ]);
    expect((await world.api(s.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') })).body).toEqual({
      available: 400,
      held: 100,
      paid_out: 0,
    });

    expect(await s.payouts.finish(payoutId, 'release')).toBe('created');
    const after = await withdraw('w3', 300);
    expect(after.status).toBe(202);
    expect((await world.api(s.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') })).body).toEqual({
      available: 200,
      held: 300,
      paid_out: 0,
    });
    expect(await world.audit()).toEqual([]);
  });

  it('gives users whose ids contain ":" their own withdrawals (a:b with key c, a with key b:c)', async () => {
    world = await createRewardsWorld();
    await world.rule('c1', { complete: 250, conversion: 0 });
    await world.fund('c1', 100_000);
    const s = await world.start();
    const users = ['a:b', 'a'];
    await world.send(users.map((u) => testEarning(u, 'c1'))); // earned before linking: no threshold payout takes it
    await world.drained();
    for (const u of users) {
      const linked = await world.api(s.port, 'POST', `/v1/users/${encodeURIComponent(u)}/wechat/link`, {
        token: world.token(u),
        body: { code: await world.oauthCode(`wx-${u}`) },
      });
      expect(linked.status).toBe(200);
    }
    const withdraw = (user: string, key: string) =>
      world!.api(s.port, 'POST', `/v1/users/${encodeURIComponent(user)}/withdrawals`, {
        token: world!.token(user),
        body: { amount: 100 },
        headers: { 'idempotency-key': key },
      });
    const first = await withdraw('a:b', 'c');
    const second = await withdraw('a', 'b:c');
    expect([first.status, second.status, second.headers.get('idempotent-replayed')]).toEqual([202, 202, null]);
    expect(second.body.payout_id).not.toBe(first.body.payout_id);
    const rows = (
      await world.pool.query<{ user_id: string; amount_fen: string }>(
        'select user_id, amount_fen from payouts order by user_id',
      )
    ).rows;
    expect(rows).toEqual([
      { user_id: person('a'), amount_fen: '100' },
      { user_id: person('a:b'), amount_fen: '100' },
    ]);
    for (const u of users)
      expect(
        (await world.api(s.port, 'GET', `/v1/users/${encodeURIComponent(u)}/balance`, { token: world.token(u) })).body,
      ).toEqual({ available: 150, held: 100, paid_out: 0 });
    for (const p of [first, second]) await s.payouts.finish(p.body.payout_id as string, 'settle'); // one payout in flight at a time

    // A withdrawal made before the upgrade (stored under the old key form) is found again by its
    // own user's retry, and never by another user whose old key reads the same.
    const before = await withdraw('a:b', 'x');
    await world.pool.query("update payouts set idempotency_key = 'withdrawal:a:b:x' where payout_id = $1", [
      before.body.payout_id,
    ]);
    const retried = await withdraw('a:b', 'x');
    expect([retried.status, retried.headers.get('idempotent-replayed'), retried.body.payout_id]).toEqual([
      202,
      'true',
      before.body.payout_id,
    ]);
    const other = await withdraw('a', 'b:x');
    expect([other.status, other.headers.get('idempotent-replayed')]).toEqual([202, null]);
    expect(other.body.payout_id).not.toBe(before.body.payout_id);
    for (const u of users)
      expect(
        (await world.api(s.port, 'GET', `/v1/users/${encodeURIComponent(u)}/balance`, { token: world.token(u) })).body,
      ).toEqual({ available: 50, held: 100, paid_out: 100 });

    // A withdrawal made before persons (its key names the bare user id; migration 0009 gave the payout
    // its person) is found again by that person's retry, and by no other app's user of the same id.
    await world.send([testEarning('a:b', 'c1')]); // 250 more: a payout is in flight, so the threshold leaves it
    await world.drained();
    await s.payouts.finish(before.body.payout_id as string, 'settle');
    const beforePersons = await withdraw('a:b', 'y');
    await world.pool.query('update payouts set idempotency_key = $2 where payout_id = $1', [
      beforePersons.body.payout_id,
      JSON.stringify(['withdrawal', 'a:b', 'y']),
    ]);
    const retriedAcross = await withdraw('a:b', 'y');
    expect([
      retriedAcross.status,
      retriedAcross.headers.get('idempotent-replayed'),
      retriedAcross.body.payout_id,
    ]).toEqual([202, 'true', beforePersons.body.payout_id]);
    const otherApp = await world.api(s.port, 'POST', `/v1/users/${encodeURIComponent('a:b')}/withdrawals`, {
      token: world.token('a:b', 'other.app'),
      body: { amount: 100 },
      headers: { 'idempotency-key': 'y' },
    });
    expect([otherApp.status, otherApp.body.error]).toEqual([422, 'wechat_not_linked']);
    expect(await world.audit()).toEqual([]);
  });
});
