// The real-name step (KYC) on the rewards API: PUT /v1/users/{id}/wechat/real-name stores the
// person's name sealed beside their WeChat link, never echoes it, and forgets it when the link moves
// to another WeChat account. The payouts service sends it to WeChat from 2,000 yuan.
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretBox } from '../common/secretbox.js';
import { createRewardsWorld, person, type RewardsWorld } from './test-support.js';

let world: RewardsWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('real name (KYC)', () => {
  it('stores a valid name sealed for a linked person only, answers without it, and forgets it when the link moves to another openid', async () => {
    world = await createRewardsWorld();
    const s = await world.start();
    const api = (
      user: string,
      body: unknown,
      opts: { token?: string; headers?: Record<string, string>; method?: string } = {},
    ) =>
      world!.api(s.port, opts.method ?? 'PUT', `/v1/users/${user}/wechat/real-name`, {
        token: opts.token ?? world!.token(user),
        body,
        headers: opts.headers,
      });
    const box = createSecretBox(Buffer.from(world.config.REWARDS_ENCRYPTION_KEY, 'base64'));
    const stored = async (user: string) =>
      (
        await world!.pool.query<{ real_name_enc: Buffer | null; real_name_at: Date | null }>(
          'select real_name_enc, real_name_at from wechat_links where user_id = $1',
          [person(user)],
        )
      ).rows[0];

    const notLinked = await api('alice', { name: '张三' });
    expect([notLinked.status, notLinked.body.error]).toEqual([409, 'not_linked']);
    expect(
      (
        await world.api(s.port, 'POST', '/v1/users/alice/wechat/link', {
          token: world.token('alice'),
          body: { code: await world.oauthCode('wx-alice') },
        })
      ).status,
    ).toBe(200);

    const invalid: [string, unknown][] = [
      ['no name', {}],
      ['a number', { name: 7 }],
      ['an empty name', { name: '' }],
      ['65 characters', { name: '张'.repeat(65) }],
      ['a control character', { name: '张\u0007三' }],
      ['a line break', { name: '张\n三' }],
      ['a format character (zero-width space)', { name: '张\u200b三' }],
      ['a right-to-left override', { name: '\u202e三张' }],
      ['a space in front', { name: ' 张三' }],
      ['only spaces', { name: '   ' }],
    ];
    for (const [why, body] of invalid) {
      const res = await api('alice', body);
      expect({
        why,
        status: res.status,
        error: res.body.error,
        hasReason: typeof res.body.message === 'string' && res.body.message.length > 0,
      }).toEqual({ why, status: 400, error: 'invalid_name', hasReason: true });
    }
    expect((await stored('alice'))?.real_name_enc).toBeNull();

    const refused: [string, Awaited<ReturnType<typeof api>>, number, string][] = [
      ['another user', await api('alice', { name: '张三' }, { token: world.token('bob') }), 403, 'forbidden'],
      ['no token', await api('alice', { name: '张三' }, { token: '' }), 401, 'missing_token'],
      [
        'the operator naming no app',
        await api('alice', { name: '张三' }, { token: world.config.REWARDS_OPERATOR_TOKEN }),
        400,
        'missing_app_id',
      ],
      ['a wrong method', await api('alice', { name: '张三' }, { method: 'POST' }), 405, 'method_not_allowed'],
    ];
    for (const [why, res, status, error] of refused)
      expect({ why, status: res.status, error: res.body.error }).toEqual({ why, status, error });

    const set = await api('alice', { name: '张'.repeat(64) });
    expect(set.status).toBe(200);
    expect(Object.keys(set.body)).toEqual(['real_name_at']);
    expect(JSON.stringify(set.body)).not.toContain('张');
    const named = await stored('alice');
    expect(box.open(named!.real_name_enc!)).toBe('张'.repeat(64));
    expect(named!.real_name_enc!.includes(Buffer.from('张'))).toBe(false);
    expect(new Date(set.body.real_name_at as string).getTime()).toBe(named!.real_name_at!.getTime());

    // The operator may set it too (naming the app), and a later name replaces the earlier one.
    const byOperator = await api(
      'alice',
      { name: '李四·王' },
      { token: world.config.REWARDS_OPERATOR_TOKEN, headers: { 'app-id': 'test.app' } },
    );
    expect(byOperator.status).toBe(200);
    expect(box.open((await stored('alice'))!.real_name_enc!)).toBe('李四·王');

    // Linking the same WeChat account again keeps the name; linking another one forgets it.
    expect(
      (
        await world.api(s.port, 'POST', '/v1/users/alice/wechat/link', {
          token: world.token('alice'),
          body: { code: await world.oauthCode('wx-alice') },
        })
      ).status,
    ).toBe(200);
    expect(box.open((await stored('alice'))!.real_name_enc!)).toBe('李四·王');
    expect(
      (
        await world.api(s.port, 'POST', '/v1/users/alice/wechat/link', {
          token: world.token('alice'),
          body: { code: await world.oauthCode('wx-alice-2') },
        })
      ).status,
    ).toBe(200);
    expect(await stored('alice')).toEqual({ real_name_enc: null, real_name_at: null });
  });
});
