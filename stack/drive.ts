// Drives a running pipeline the way its users do, for the demo, the end-to-end tests and the
// end-to-end benchmark: operators register apps, campaigns, network secrets, ad units, reward rules
// and funding with the npm commands; users link WeChat through the rewards API; SDKs send the
// scenario's beacons to the collector while the ad networks and advertisers (the simulator,
// drive-s2s.ts) confirm what they saw; attackers forge; and at the end, what the pipeline holds is
// read back from ClickHouse, Postgres, the sandbox and the simulator.
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promisify } from 'node:util';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import pg from 'pg';
import { signUserToken } from '../common/auth.js';
import type { Person } from '../common/person.js';
import { createKafka, groupLag, withAdmin } from '../common/kafka.js';
import type { KafkaConnection } from '../common/kafka-security.js';
import { createLogger } from '../common/log.js';
import { EventType } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';
import { createBeaconClient, type SendResult } from '../ingest/sdk/client.js';
import { chinaDay } from '../payouts/reconcile-pg.js';
import { createS2sDriver } from './drive-s2s.js';
import { nodeCommand, root } from './supervisor.js';
import { FORGED_BY_KIND as FORGED, rewardedCampaign } from './ground-truth.js';
import { add, APP_UA, BOT_UA, claimHabit, person, type BadRequest, type Scenario, type SimUser } from './traffic.js';

export interface Target {
  /** The environment the npm commands run with (DATABASE_URL, CLICKHOUSE_DATABASE, ...). */
  env: Record<string, string | undefined>;
  ingestUrl: string;
  rewardsUrl: string;
  sandboxUrl: string;
  /** The payouts API: where advertisers top up their campaigns, and a user's app lists the transfer bills waiting for them. */
  payoutsUrl: string;
  /** The sandbox's admin listener (faults, state), on loopback apart from its public ports. */
  sandboxAdminUrl: string;
  /** The ad-network simulator, and the AdMob verifier-key list the collector trusts (a file:// URL). */
  adnetUrl: string;
  admobKeysUrl: string;
  databaseUrl: string;
  clickhouseUrl: string;
  clickhouseDatabase: string;
  /** Kafka as the services reach it (brokers, TLS, SASL), for the consumer groups' lag. */
  kafka: KafkaConnection;
  lags: { group: string; topic: string }[];
  tokenSecret: string;
  wechatAppid: string;
}

export interface Tally {
  requests: number;
  accepted: number;
  rejectedEvents: Record<string, number>;
  rejectedRequests: Record<string, number>;
  /** Confirmations asked of the simulator; forged callbacks by the collector's answer. */
  confirmsAsked: number;
  forgedCallbacks: Record<string, number>;
}
type Keys = Map<number, { keyId: string; secret: string }>;

const exec = promisify(execFile);

/**
 * Sends with `send` again, every 500 ms up to 40 times, while nothing answers (a service restarting)
 * or the answer is 5xx or 429, as any client would; then the answer.
 */
async function answered<R extends { status: number }>(what: string, send: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const res = await send().catch(() => undefined);
    if (res && res.status < 500 && res.status !== 429) return res;
    if (attempt >= 40)
      throw new Error(`${what}: ${res ? `HTTP ${res.status}` : 'no answer'} after ${attempt} attempts`);
    await sleep(500);
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function createDriver(target: Target) {
  const db = new pg.Pool({ connectionString: target.databaseUrl, max: 4 });
  const clickhouse = createClient({
    url: target.clickhouseUrl,
    database: target.clickhouseDatabase,
    log: { level: ClickHouseLogLevel.OFF },
  });
  const kafka = createKafka({ ...target.kafka, clientId: 'drive' }, { log: createLogger('drive', 'silent') });
  const s2s = createS2sDriver(target);

  /** An npm command (its entry run directly, without npm's start-up): stdout, and whether it exited 0. */
  async function command(entry: string, args: string[]) {
    const [cmd, ...pre] = nodeCommand(entry);
    try {
      const { stdout } = await exec(cmd!, [...pre, ...args], {
        cwd: root,
        env: { ...process.env, ...target.env, LOG_LEVEL: 'warn' },
      });
      return { ok: true, out: stdout.trim() };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message };
    }
  }
  const must = async (entry: string, args: string[]) => {
    const r = await command(entry, args);
    if (!r.ok) throw new Error(`${entry} ${args.join(' ')}: ${r.out}`);
    return r.out;
  };

  async function api(method: string, path: string, who: Person, body?: unknown, base = target.rewardsUrl) {
    const token = signUserToken(target.tokenSecret, who, { ttlS: 3_600, nowMs: Date.now() });
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Links `user` to WeChat: the sandbox's consent page gives an OAuth code, the rewards API exchanges it. */
  async function link(s: Scenario, user: SimUser) {
    // One WeChat account per person: another app's user of the same id is someone else.
    const q = new URLSearchParams({
      appid: target.wechatAppid,
      redirect_uri: 'https://app.example/wechat',
      response_type: 'code',
      scope: 'snsapi_base',
      state: 'demo',
      sandbox_user: `wx-${person(s, user)}`,
    });
    const consent = await fetch(`${target.sandboxUrl}/connect/oauth2/authorize?${q}`, { redirect: 'manual' });
    const code = new URL(consent.headers.get('location') ?? 'x:/').searchParams.get('code');
    if (!code) throw new Error(`no OAuth code for ${user.id}: HTTP ${consent.status}`);
    const res = await answered(`link ${user.id}`, () =>
      api(
        'POST',
        `/v1/users/${encodeURIComponent(user.id)}/wechat/link`,
        { appId: s.apps[user.app]!, userId: user.id },
        { code },
      ),
    );
    if (res.status !== 200) throw new Error(`link ${user.id}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** A request signed by hand: the SDK cannot send the bad ones. */
  function rawPost(body: Uint8Array, sig: { t: number; keyId: string; secret: string }, ua = APP_UA) {
    const v1 = createHmac('sha256', sig.secret).update(`${sig.t}.`).update(body).digest('hex');
    return fetch(`${target.ingestUrl}/v1/beacons`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/x-protobuf',
        'user-agent': ua,
        'beacon-signature': `t=${sig.t},k=${sig.keyId},v1=${v1}`,
      },
    });
  }

  async function sendBad(s: Scenario, keys: Keys, b: BadRequest, tally: Tally) {
    const key = keys.get(b.app)!;
    const batch = (appId: string) =>
      beacon.v1.BeaconBatch.encode({ appId, sdk: 'demo/1', sentAt: Date.now(), events: b.events }).finish();
    const t = Date.now();
    const send = () =>
      ({
        bad_signature: () => rawPost(batch(s.apps[b.app]!), { t, keyId: key.keyId, secret: `${key.secret}x` }),
        timestamp_too_old: () => rawPost(batch(s.apps[b.app]!), { t: t - 600_000, ...key }),
        unknown_key: () => rawPost(batch(s.apps[b.app]!), { t, keyId: 'k_0000000000000000', secret: key.secret }),
        app_mismatch: () => rawPost(batch(s.apps[(b.app + 1) % s.apps.length]!), { t, ...key }),
        undecodable_body: () =>
          rawPost(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), {
            t,
            ...key,
          }),
      })[b.kind]();
    const res = await answered(`the ${b.kind} request`, send);
    const payload = (await res.json()) as { error?: string };
    add(tally.rejectedRequests, payload.error ?? `http_${res.status}`);
    tally.requests++;
  }

  /** The same bytes sent again (within the signature's 300 s). */
  async function replay(req: { url: string; init: RequestInit }): Promise<SendResult> {
    const res = await answered('replay', () => fetch(req.url, req.init));
    const body = (await res.json().catch(() => ({}))) as { accepted?: number; rejected?: SendResult['rejected'] };
    if (res.status !== 202) throw new Error(`replay answered ${res.status} ${JSON.stringify(body)}`);
    return { status: 202, accepted: body.accepted ?? 0, rejected: body.rejected ?? [], attempts: 1 };
  }

  /** One user's requests, in order, each sent once answered; duplicates sent as the SDK's retry or as a replay of the same bytes. */
  async function sendUser(s: Scenario, keys: Keys, user: SimUser, tally: Tally) {
    const key = keys.get(user.app)!;
    let last: { url: string; init: RequestInit } | undefined;
    const recording: typeof fetch = (url, init) => {
      last = {
        url: String(url),
        init: {
          ...init,
          headers: {
            ...(init?.headers as Record<string, string>),
            'user-agent': user.kind === 'bot' ? BOT_UA : APP_UA,
          },
        },
      };
      return fetch(last.url, last.init);
    };
    const client = createBeaconClient(
      {
        endpoint: target.ingestUrl,
        appId: s.apps[user.app]!,
        ...key,
        sdk: 'demo/2.4.0',
        maxAttempts: 30,
        maxDelayMs: 5_000,
      },
      { fetch: recording },
    );
    const count = (r: SendResult) => {
      tally.requests++;
      tally.accepted += r.accepted;
      for (const x of r.rejected) add(tally.rejectedEvents, x.reason.split(':')[0]!);
    };
    for (const req of user.requests) {
      // The network's or advertiser's confirmation is asked for first: by its plan it may reach the collector before the beacon.
      for (const c of req.confirms ?? []) {
        await s2s.ask(s, c);
        tally.confirmsAsked++;
      }
      count(await client.send(req.events));
      if (req.duplicate === 'retry') count(await client.send(req.events));
      if (req.duplicate === 'replay' && last) count(await replay(last));
    }
  }

  /** An app's advertiser, who owns the app's campaigns and pays their budgets. */
  const advertiserOf = (s: Scenario, app: number) => `${s.apps[app]}.adv`;
  /** The budget each campaign is funded with: enough for every user to earn 2,000 fen from it. */
  const budgetOf = (s: Scenario) => s.users.length * 2_000;
  const topUpKey = (campaignId: string) => `${campaignId}-initial`;

  /**
   * Funds the campaigns as their advertisers would: each app's advertiser is registered with the app's
   * campaigns (`npm run rewards -- advertiser`, which prints its token), creates a Native top-up per
   * campaign through the payouts API, and pays it by scanning its QR code (the sandbox's payer). Waits
   * until every order is paid and credited to its budget.
   */
  async function fundByTopUps(s: Scenario) {
    const orders: string[] = [];
    await Promise.all(
      s.apps.map(async (_, i) => {
        const campaigns = s.campaigns.filter((c) => c.app === i).map((c) => c.id);
        const token = await must('rewards/cli-main.ts', ['advertiser', advertiserOf(s, i), ...campaigns]);
        for (const c of campaigns) {
          // 202: committed, WeChat not reached yet; asked again under the same key, as a client does, until it is open.
          const order = await until(`the top-up of ${c}`, 120_000, async () => {
            const res = await answered(`top-up of ${c}`, () =>
              fetch(`${target.payoutsUrl}/v1/topups`, {
                method: 'POST',
                headers: {
                  authorization: `Bearer ${token}`,
                  'content-type': 'application/json',
                  'idempotency-key': topUpKey(c),
                },
                body: JSON.stringify({ campaign_id: c, amount_fen: budgetOf(s), method: 'native' }),
              }),
            );
            const body = (await res.json()) as { out_trade_no?: string; code_url?: string };
            if (res.status !== 201 && res.status !== 202)
              throw new Error(`top-up of ${c}: ${res.status} ${JSON.stringify(body)}`);
            return { done: body.code_url !== undefined, value: body };
          });
          const paid = await fetch(`${target.sandboxAdminUrl}/sandbox/pay`, {
            method: 'POST',
            body: JSON.stringify({ code_url: order.code_url }),
          });
          if (!paid.ok) throw new Error(`paying ${order.out_trade_no}: ${paid.status} ${await paid.text()}`);
          orders.push(order.out_trade_no!);
        }
      }),
    );
    const keys = orders.map((no) => JSON.stringify(['topup', no]));
    await until('the top-ups to be credited', 120_000, async () => {
      const { rows } = await db.query<{ n: number }>(
        'select count(*)::int as n from transactions where idempotency_key = any($1)',
        [keys],
      );
      return { done: rows[0]!.n === orders.length, value: rows[0]!.n };
    });
  }

  /** Money in and back out for the scenario's campaigns: top-ups paid, what refunds returned, budgets left. */
  async function moneyIn(s: Scenario) {
    const ids = s.campaigns.map((c) => c.id);
    const {
      rows: [m],
    } = await db.query<{ paid: string; refunded: string; budgets: string }>(
      `select
        (select coalesce(sum(paid_fen), 0) from topup_orders where campaign_id = any($1) and state = 'paid') as paid,
        (select coalesce(sum(r.amount_fen), 0) from topup_refunds r join topup_orders o using (out_trade_no) where o.campaign_id = any($1) and r.state = 'succeeded') as refunded,
        (select coalesce(sum(credits - debits), 0) from accounts where type = 'campaign_budget' and owner = any($1)) as budgets`,
      [ids],
    );
    return { paidFen: Number(m!.paid), refundedFen: Number(m!.refunded), budgetsFen: Number(m!.budgets) };
  }

  const lagOf = () =>
    withAdmin(kafka, (admin) => Promise.all(target.lags.map((l) => groupLag(admin, l.group, l.topic))));

  async function until<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<{ done: boolean; value: T }>,
    onTick?: (value: T) => void,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await probe().catch(() => ({ done: false, value: undefined as T }));
      if (r.value !== undefined) onTick?.(r.value);
      if (r.done) return r.value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      await sleep(500);
    }
  }

  /** The scenario's people, as rewards and payouts key them (`<app_id>:<user_id>`). */
  const users = (s: Scenario) => s.users.map((u) => person(s, u));
  async function payoutStates(s: Scenario) {
    const { rows } = await db.query<{ state: string; n: number; fen: string }>(
      'select state, count(*)::int as n, sum(amount_fen) as fen from payout_status where user_id = any($1) group by state',
      [users(s)],
    );
    return Object.fromEntries(rows.map((r) => [r.state, { n: r.n, fen: Number(r.fen) }]));
  }
  /**
   * The scenario's final transfer bills: how each ended (paid; released after WeChat closed it
   * unconfirmed; released after the operator cancelled it), and what their people's habits say they
   * should have (traffic.ts claimHabit).
   */
  async function billOutcomes(s: Scenario) {
    const { rows } = await db.query<{ user_id: string; outcome: string }>(
      `select p.user_id,
        case when p.state = 'paid' then 'paid' when t.cancel_requested_at is not null then 'cancelled' else 'expired and released' end as outcome
      from payouts p join payout_transfers t using (payout_id) join payout_batches b using (batch_no)
      where b.api = 'v3_bill' and p.state in ('paid', 'released') and p.user_id = any($1)`,
      [users(s)],
    );
    const seen: Record<string, number> = {};
    const truth: Record<string, number> = {};
    const expected = { confirm: 'paid', ignore: 'expired and released', cancelled: 'cancelled' } as const;
    for (const r of rows) {
      add(seen, r.outcome);
      add(truth, expected[claimHabit(r.user_id)]);
    }
    return { seen, truth };
  }
  async function reviewCount(s: Scenario) {
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from payout_transfers t join payouts p on p.payout_id = t.payout_id where t.state = 'review' and p.user_id = any($1)",
      [users(s)],
    );
    return rows[0]!.n;
  }

  /** Waits until every consumer group of the target has committed everything on its topic. */
  const drained = (timeoutMs: number, onTick?: (lags: number[]) => void) =>
    until(
      'consumer lags to reach zero',
      timeoutMs,
      async () => {
        const lags = await lagOf();
        return { done: lags.every((l) => l === 0), value: lags };
      },
      onTick,
    );

  return {
    drained,

    s2s,

    /**
     * Apps and keys, each app's campaigns (with their postback secrets), network secrets and ad units
     * (`npm run apps`), handed to the simulator as the networks and advertisers would hold them; reward
     * rules (`npm run rewards`); each campaign's budget, paid in by its advertiser through WeChat Pay;
     * and the users' WeChat links.
     */
    async setup(s: Scenario): Promise<Keys> {
      const keys: Keys = new Map();
      const networks: { network: string; app_id: string; secret: string }[] = [];
      await Promise.all(
        s.apps.map(async (app, i) => {
          const [keyId, secret] = (await must('ingest/apps-main.ts', ['create', app])).split(' ');
          keys.set(i, { keyId: keyId!, secret: secret! });
          if (s.networks[i] !== 'admob')
            networks.push({
              network: s.networks[i]!,
              app_id: app,
              secret: (await must('ingest/apps-main.ts', ['network', s.networks[i]!, app])).split(' ')[1]!,
            });
        }),
      );
      const campaigns: { campaign_id: string; secret: string }[] = [];
      await pool(s.campaigns, 4, async (c) => {
        campaigns.push({
          campaign_id: c.id,
          secret: (await must('ingest/apps-main.ts', ['campaign', c.id, s.apps[c.app]!])).split(' ')[1]!,
        });
        await must('rewards/cli-main.ts', [
          'rule',
          c.id,
          '--complete',
          String(c.rule.complete),
          '--conversion',
          String(c.rule.conversion),
          ...(c.rule.dailyCap ? ['--daily-cap', String(c.rule.dailyCap)] : []),
          '--fee-bps',
          String(c.rule.feeBps),
        ]);
      });
      await fundByTopUps(s);
      // Each app's rewarded ad unit, at its network, confirms for the app's video campaign alone.
      await Promise.all(
        s.apps.map((app, i) =>
          must('ingest/apps-main.ts', ['ad-unit', s.networks[i]!, s.adUnits[i]!, app, rewardedCampaign(s, i)!]),
        ),
      );
      await s2s.secrets({ networks, campaigns });
      await pool(
        s.users.filter((u) => u.linked),
        16,
        (u) => link(s, u),
      );
      // Running services reload apps, campaigns and secrets on NOTIFY, within moments; give them those.
      await sleep(1_000);
      return keys;
    },

    /**
     * Sends every user's requests (users in parallel, each user's in order) and the bad requests;
     * then, once the aggregator has processed them, the requests that name other users' clicks.
     */
    async play(
      s: Scenario,
      keys: Keys,
      opts: { concurrency?: number; spreadMs?: number; onProgress?: (tally: Tally) => void; onSent?: () => void } = {},
    ): Promise<Tally> {
      const tally: Tally = {
        requests: 0,
        accepted: 0,
        rejectedEvents: {},
        rejectedRequests: {},
        confirmsAsked: 0,
        forgedCallbacks: {},
      };
      const tick = setInterval(() => opts.onProgress?.(tally), 250);
      try {
        const first = s.users.filter((u) => u.kind !== 'claimer');
        const tasks: (() => Promise<void>)[] = [...first.map((u) => () => sendUser(s, keys, u, tally))];
        s.bad.forEach((b, i) =>
          tasks.splice(Math.floor(((i + 1) * tasks.length) / (s.bad.length + 1)), 0, () => sendBad(s, keys, b, tally)),
        );
        s.forged.forEach((f, i) =>
          tasks.splice(Math.floor(((i + 1) * tasks.length) / (s.forged.length + 1)), 0, async () =>
            add(tally.forgedCallbacks, await s2s.forge(s, f)),
          ),
        );
        // With spreadMs, the users arrive evenly over that time rather than all at once.
        const start = Date.now();
        const due = (i: number) => start + ((opts.spreadMs ?? 0) * i) / tasks.length;
        await pool([...tasks.keys()], opts.concurrency ?? 48, async (i) => {
          await sleep(Math.max(0, due(i) - Date.now()));
          await tasks[i]!();
        });
        opts.onSent?.();
        await s2s.delivered(300_000);
        await drained(300_000);
        await pool(
          s.users.filter((u) => u.kind === 'claimer'),
          opts.concurrency ?? 48,
          (u) => sendUser(s, keys, u, tally),
        );
        await s2s.delivered(300_000);
      } finally {
        clearInterval(tick);
        opts.onProgress?.(tally);
      }
      return tally;
    },

    /**
     * Plays the people's side of transfer bills until stopped: a person with a bill waiting (as their
     * app learns from a push) lists it through the payouts API; one who confirms opens WeChat's page
     * with the listed package (the sandbox's stand-in for the tap); for one the operator cancels,
     * `npm run payouts -- cancel` runs; one who ignores it lets WeChat close it.
     */
    claims(s: Scenario) {
      const people = new Map(s.users.filter((u) => u.linked).map((u) => [person(s, u), u]));
      const seen = { confirmed: new Set<string>(), cancelled: new Set<string>() };
      let running = true;
      const loop = (async () => {
        while (running) {
          const { rows } = await db.query<{ user_id: string }>(
            "select distinct user_id from payout_status where state = 'batched' and user_id = any($1)",
            [[...people.keys()]],
          );
          const cancel: string[] = [];
          await pool(rows, 8, async ({ user_id: key }) => {
            const u = people.get(key)!;
            const habit = claimHabit(key);
            if (habit === 'ignore') return;
            const listed = await api(
              'GET',
              '/v1/payouts?awaiting=confirmation',
              { appId: s.apps[u.app]!, userId: u.id },
              undefined,
              target.payoutsUrl,
            );
            for (const p of (listed.body.payouts ?? []) as { payout_id: string; package: string | null }[]) {
              if (habit === 'cancelled' && !seen.cancelled.has(p.payout_id)) cancel.push(p.payout_id);
              if (habit !== 'confirm' || !p.package || seen.confirmed.has(p.payout_id)) continue;
              const tap = await fetch(`${target.sandboxAdminUrl}/sandbox/transfer-bills/confirm`, {
                method: 'POST',
                body: JSON.stringify({ package: p.package }),
              });
              if (tap.ok) seen.confirmed.add(p.payout_id);
            }
          });
          // One command for the tick's cancels. One the bill outran (closed first) is refused; the payout then ends as WeChat says.
          if (cancel.length > 0) await command('payouts/cli-main.ts', ['cancel', ...cancel]);
          for (const id of cancel) seen.cancelled.add(id);
          await sleep(1_000);
        }
      })();
      return { stop: async () => void ((running = false), await loop) };
    },

    /** Waits until every payout of the scenario's users is final, except those held for review. */
    payoutsSettled: (
      s: Scenario,
      timeoutMs: number,
      onTick?: (states: Record<string, { n: number; fen: number }>) => void,
    ) =>
      until(
        'payouts to settle',
        timeoutMs,
        async () => {
          const states = await payoutStates(s);
          const open = Object.entries(states).reduce(
            (n, [state, v]) => n + (['paid', 'released', 'reversed'].includes(state) ? 0 : v.n),
            0,
          );
          return { done: open === (await reviewCount(s)), value: states };
        },
        onTick,
      ),

    /** What the pipeline holds for this scenario. */
    async observe(s: Scenario) {
      const q = async <T>(query: string) => (await clickhouse.query({ query, format: 'JSONEachRow' })).json<T>();
      const list = (xs: string[]) => xs.map((x) => `'${x}'`).join(',');
      const apps = list(s.apps);
      const campaignIds = list(s.campaigns.map((c) => c.id));
      const rows = await q<{ type: string; invalid_reason: string; n: string }>(
        `SELECT type, invalid_reason, count() AS n FROM events WHERE app_id IN (${apps}) GROUP BY type, invalid_reason`,
      );
      const attributions = await q<{
        event_id: string;
        attributed_to: string;
        model: 'click' | 'view';
        lag_ms: string;
        invalid_reason: string;
      }>(`SELECT event_id, attributed_to, model, lag_ms, invalid_reason FROM attributions WHERE app_id IN (${apps})`);
      const hourly = await q<
        Record<string, string>
      >(`SELECT campaign_id, sum(impressions) AS impressions, sum(viewables) AS viewables, sum(clicks) AS clicks,
        sum(completions) AS completions, sum(conversions) AS conversions, sum(revenue_micros) AS revenue_micros FROM campaign_hourly WHERE campaign_id IN (${campaignIds}) GROUP BY campaign_id`);
      const distinctUsers = await q<{ campaign_id: string; users: string }>(
        `SELECT campaign_id, uniqExact(user_id) AS users FROM events WHERE invalid_reason = '' AND campaign_id IN (${campaignIds}) GROUP BY campaign_id`,
      );
      const { rows: earnings } = await db.query<{ outcome: string; n: number; fen: string }>(
        "select case when status = 'posted' then 'posted' else reason end as outcome, count(*)::int as n, sum(amount_fen) as fen from earnings where app_id = any($1) group by 1",
        [s.apps],
      );
      const { rows: balances } = await db.query<{ owner: string; available: number; held: number; paid_out: number }>(
        `select owner,
          coalesce(sum(credits - debits) filter (where type = 'user_available'), 0)::int as available,
          coalesce(sum(credits - debits) filter (where type = 'user_held'), 0)::int as held,
          coalesce(sum(credits - debits) filter (where type = 'payout_clearing'), 0)::int as paid_out
        from accounts where owner = any($1) group by owner`,
        [users(s)],
      );
      // The confirmations: recorded, matched (by reason), matching nothing; and what nothing confirmed.
      const count = async (query: string) => Number((await q<{ n: string }>(query))[0]?.n ?? 0);
      const verified = `SELECT concat(source, ':', transaction_id) FROM verifications WHERE app_id IN (${apps})`;
      const matched = await q<{ reason: string; n: string }>(
        `SELECT reason, count() AS n FROM verifications WHERE app_id IN (${apps}) GROUP BY reason`,
      );
      const confirmations = {
        recorded: await count(`SELECT count() AS n FROM confirmations WHERE app_id IN (${apps})`),
        matched: Object.fromEntries(matched.map((m) => [m.reason, Number(m.n)])),
        noMatch: await count(
          `SELECT count() AS n FROM confirmations WHERE app_id IN (${apps}) AND concat(source, ':', transaction_id) NOT IN (${verified})`,
        ),
      };
      const unconfirmed =
        await count(`SELECT count() AS n FROM attributions WHERE app_id IN (${apps}) AND invalid_reason = ''
        AND event_id NOT IN (SELECT event_id FROM verifications WHERE app_id IN (${apps}))`);
      // The attackers' rewardable events that earned nothing, by what they tried.
      const attempts = new Map<string, string[]>();
      for (const u of s.users) {
        const kind = FORGED[u.kind as keyof typeof FORGED];
        if (!kind) continue;
        const ids = u.requests
          .flatMap((r) => r.events)
          .filter((e) => e.type === EventType.REWARD_COMPLETE || e.type === EventType.CONVERSION)
          .map((e) => e.eventId!);
        attempts.set(kind, [...(attempts.get(kind) ?? []), ...ids]);
      }
      const { rows: paidAttempts } = await db.query<{ id: string }>(
        "select source_event_id::text as id from earnings where status = 'posted' and source_event_id = any($1::uuid[])",
        [[...attempts.values()].flat()],
      );
      const paid = new Set(paidAttempts.map((r) => r.id));
      const forged = Object.fromEntries(
        [...attempts].map(([kind, ids]) => [kind, ids.filter((id) => !paid.has(id)).length]),
      );
      return {
        confirmations,
        unconfirmed,
        forged,
        rows: Object.fromEntries(rows.map((r) => [`${r.type}/${r.invalid_reason}`, Number(r.n)])),
        attributions: new Map(
          attributions.map((a) => [
            a.event_id,
            { to: a.attributed_to, model: a.model, lagMs: Number(a.lag_ms), invalid: a.invalid_reason },
          ]),
        ),
        campaigns: new Map(
          hourly.map((h) => [
            h.campaign_id!,
            {
              impressions: Number(h.impressions),
              viewables: Number(h.viewables),
              clicks: Number(h.clicks),
              completions: Number(h.completions),
              conversions: Number(h.conversions),
              revenue_micros: Number(h.revenue_micros),
              users: Number(distinctUsers.find((d) => d.campaign_id === h.campaign_id)?.users ?? 0),
            },
          ]),
        ),
        earnings: Object.fromEntries(earnings.map((e) => [e.outcome, e.n])),
        rewardedFen: earnings.reduce((sum, e) => sum + (e.outcome === 'posted' ? Number(e.fen) : 0), 0),
        balances: new Map(balances.map(({ owner, ...b }) => [owner, b])),
        payouts: await payoutStates(s),
        review: await reviewCount(s),
        bills: await billOutcomes(s),
        money: await moneyIn(s),
      };
    },

    /**
     * The advertiser of the first app ends its video campaign and asks for what it did not spend
     * (`npm run rewards -- end`, then `refund`); waits until WeChat has returned it.
     */
    async refundEnded(s: Scenario): Promise<{ campaignId: string; state: string }> {
      const campaignId = rewardedCampaign(s, 0)!;
      await must('rewards/cli-main.ts', ['end', campaignId]);
      const refundId = (await must('rewards/cli-main.ts', ['refund', campaignId])).split(' ')[0]!;
      const state = await until('the refund to finish', 120_000, async () => {
        const { rows } = await db.query<{ state: string }>('select state from campaign_refunds where refund_id = $1', [
          refundId,
        ]);
        return { done: rows[0]?.state !== 'requested', value: rows[0]?.state ?? 'requested' };
      });
      return { campaignId, state };
    },

    /** What the scenario's campaigns should have been funded with, in all. */
    fundedFen: (s: Scenario) => budgetOf(s) * s.campaigns.length,

    /** What the sandbox says it paid. */
    sandboxState: async () =>
      (await (await fetch(`${target.sandboxAdminUrl}/sandbox/state`)).json()) as { paidFen: number },

    /** Sets sandbox faults (POST /sandbox/faults). */
    faults: async (faults: Record<string, unknown>) =>
      void (await fetch(`${target.sandboxAdminUrl}/sandbox/faults`, { method: 'POST', body: JSON.stringify(faults) })),

    /** `npm run payouts -- reconcile <today, China time>`: its one-line result, and whether everything was explained. */
    reconcile: () => command('payouts/cli-main.ts', ['reconcile', chinaDay(Date.now())]),

    /** `npm run audit`. */
    audit: () => command('rewards/audit-main.ts', []),

    async close() {
      await db.end();
      await clickhouse.close();
    },
  };
}
export type Driver = ReturnType<typeof createDriver>;
