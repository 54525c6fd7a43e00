// Test harness for payouts end to end: a rewards world (private Postgres, topics, BullMQ prefix, the
// sandbox as its own process with fast time) plus payouts services in-process or as killable child
// processes, and helpers that make linked users cross the payout threshold.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../common/config.js';
import { stopAll } from '../common/shutdown.js';
import { createPayouts } from '../payouts/app.js';
import { payoutsConfig } from '../payouts/config.js';
import { createOAuthSandbox } from '../payouts/sandbox/oauth.js';
import { createRewardsWorld, testEarning, type TestEarning } from '../rewards/test-support.js';
import { freePort, silentLog, spawnEntry } from './support.js';

export async function createPayoutsWorld(
  opts: { sandboxEnv?: Record<string, string>; payoutsEnv?: Record<string, string> } = {},
) {
  const world = await createRewardsWorld({
    env: { REWARDS_REQUEUE_INTERVAL_MS: '500' },
    sandboxEnv: {
      SANDBOX_TLS_PORT: '0',
      SANDBOX_STEP_MS: '40',
      SANDBOX_TIME_SCALE: '0.0001',
      SANDBOX_AUTO_CONFIRM_MS: '60',
      ...opts.sandboxEnv,
    },
  });
  const rewards = await world.start();
  const port = await freePort();
  const payoutsEnv: Record<string, string> = {
    DATABASE_URL: world.db.url,
    LOG_LEVEL: 'silent',
    PAYOUTS_PORT: String(port),
    PAYOUTS_OPS_PORT: '0',
    PAYOUTS_QUEUE_PREFIX: world.env.REWARDS_PAYOUT_QUEUE_PREFIX!,
    WECHATPAY_BASE_URL: `https://127.0.0.1:${world.sandbox.tlsPort}`,
    WECHATPAY_APPID: 'wxtestapp',
    PAYOUTS_NOTIFY_URL: `https://127.0.0.1:${port}/v1/wechat/notify`,
    PAYOUTS_TICK_MS: '100',
    PAYOUTS_BATCH_MAX_AGE_MS: '300',
    PAYOUTS_POLL_MS: '1500',
    PAYOUTS_SWEEP_MS: '500',
    ...opts.payoutsEnv,
  };
  const sandboxUrl = `http://127.0.0.1:${world.sandbox.adminPort}/sandbox`; // the admin listener
  const openids = createOAuthSandbox({ appid: 'wxtestapp', appSecret: '', seed: 'sandbox-seed' }, { now: Date.now });
  const running: { stop(): Promise<void> }[] = [];
  let campaign = 0;

  return {
    world,
    rewards,
    port,
    env: payoutsEnv,
    async start(extra: Record<string, string> = {}) {
      const service = await createPayouts(loadConfig(payoutsConfig, { ...process.env, ...payoutsEnv, ...extra }), {
        log: silentLog,
      });
      const handle = { ...service, stop: () => stopAll(service.parts, silentLog).then(() => {}) };
      running.push(handle);
      return handle;
    },
    spawn: (extra: Record<string, string> = {}) =>
      spawnEntry(join(import.meta.dirname, '../payouts/test-crash-main.ts'), { ...payoutsEnv, ...extra }),

    /** The openid the sandbox gives WeChat user `wechatUser`. */
    openid: (wechatUser: string) => openids.openid('wxtestapp', wechatUser),
    faults: async (faults: Record<string, unknown>) =>
      void (await fetch(`${sandboxUrl}/faults`, { method: 'POST', body: JSON.stringify(faults) })),
    /** The bills waiting for `user`'s confirmation, as their app lists them (GET /v1/payouts?awaiting=confirmation). */
    claim: (user: string) => world.api(port, 'GET', '/v1/payouts?awaiting=confirmation', { token: world.token(user) }),
    /** The user's tap on WeChat's confirm page for bill `outBillNo` (the sandbox's admin route). */
    async confirm(outBillNo: string) {
      const res = await fetch(`${sandboxUrl}/transfer-bills/${outBillNo}/confirm`, { method: 'POST' });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    /** `user` gives their real name through the rewards API (PUT /v1/users/{id}/wechat/real-name). */
    realName: (user: string, name: string) =>
      world.api(rewards.port, 'PUT', `/v1/users/${encodeURIComponent(user)}/wechat/real-name`, {
        token: world.token(user),
        body: { name },
      }),
    /** `npm run payouts -- <args>` against this world: its exit code and output. */
    cli: (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', join(import.meta.dirname, '../payouts/cli-main.ts'), ...args],
          { env: { ...process.env, ...payoutsEnv } },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      }),
    sandboxState: async () =>
      (await (await fetch(`${sandboxUrl}/state`)).json()) as {
        paidFen: number;
        calls: Record<string, number>;
        callbacks: { acked: number };
      },

    /** Links `users` to WeChat (as wx-<user>) and credits each `amountFen`, which crosses the threshold; `over` shapes a user's earning. */
    async earn(users: string[], amountFen: number, over: (user: string) => Partial<TestEarning> = () => ({})) {
      const id = `camp-${campaign++}-${Date.now()}`;
      await world.rule(id, { complete: amountFen, conversion: 0 });
      await world.fund(id, amountFen * users.length * 2);
      for (const u of users) {
        const linked = await world.api(rewards.port, 'POST', `/v1/users/${u}/wechat/link`, {
          token: world.token(u),
          body: { code: await world.oauthCode(`wx-${u}`) },
        });
        if (linked.status !== 200) throw new Error(`link ${u}: ${JSON.stringify(linked.body)}`);
      }
      await world.send(users.map((u) => testEarning(u, id, over(u))));
    },

    /** Payout states, counted. */
    async states(): Promise<Record<string, number>> {
      const { rows } = await world.pool.query<{ state: string; n: string }>(
        'select state, count(*) as n from payout_status group by state',
      );
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    },

    /** Waits until `n` payouts are in the final states listed. */
    async settled(
      n: number,
      states = ['paid', 'released', 'reversed'],
      timeoutMs = 60_000,
    ): Promise<Record<string, number>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await this.states();
        if (states.reduce((sum, st) => sum + (s[st] ?? 0), 0) >= n) return s;
        if (Date.now() > deadline) throw new Error(`waited for ${n} payouts in ${states}: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },

    async stop() {
      for (const r of running) await r.stop().catch(() => {});
      await world.stop();
    },
  };
}
export type PayoutsWorld = Awaited<ReturnType<typeof createPayoutsWorld>>;
