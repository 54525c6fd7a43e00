// The S2S endpoints (CONTRACTS.md §7) against the real Kafka and Postgres: each verified callback is
// one Confirmation on the confirmations topic before its 200; the refusals are 400/401/403/503.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAdmobQuery, signNetworkQuery, signPostback } from './s2s-signing.js';
import { readConfirmations, startTestCollector } from './test-support.js';

type Collector = Awaited<ReturnType<typeof startTestCollector>>;
const UNIT_A = 'ca-app-pub-1/1';
const UNIT_B = 'ca-app-pub-2/2';

const admobQuery = (c: Collector, over: Record<string, string | number> = {}, keyId = c.admob.keyId) =>
  signAdmobQuery(
    {
      ad_network: '5450213213286189855',
      ad_unit: UNIT_A,
      custom_data: randomUUID(),
      reward_amount: 10,
      reward_item: 'coins',
      timestamp: Date.now(),
      transaction_id: randomUUID().replace(/-/g, ''),
      user_id: 'alice',
      ...over,
    },
    { keyId, privateKey: c.admob.privateKey },
  );
const networkQuery = (secret: string, over: Record<string, string | number> = {}) =>
  signNetworkQuery(
    {
      app_id: 'test.app',
      ad_unit: 'a.rewarded',
      user_id: 'bob',
      custom_data: randomUUID(),
      transaction_id: `tx-${randomUUID()}`,
      reward_amount: 5,
      reward_item: 'gems',
      timestamp: Date.now(),
      ...over,
    },
    secret,
  );
const postbackBody = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    campaign_id: 'camp-a',
    event_id: randomUUID(),
    user_id: 'carol',
    value_micros: 2_500_000,
    currency: 'CNY',
    occurred_at: Date.now(),
    ...over,
  });

async function get(c: Collector, path: string) {
  const res = await fetch(`${c.url}${path}`);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}
async function postback(c: Collector, body: string, secret: string, t = Date.now()) {
  const res = await fetch(`${c.url}/v1/postbacks`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'postback-signature': signPostback(body, secret, t) },
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}
/** Polls until `check` returns true: the collectors' caches reload on NOTIFY, within moments. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) if (await check()) return;
  throw new Error('condition never held');
}
const secretOf = (line: string) => line.split(' ')[1]!;

describe('S2S endpoints (real Kafka and Postgres)', () => {
  let c: Collector;
  const s = { networkA: '', networkB: '', networkAId: '', campA: '', campB: '' };

  beforeAll(async () => {
    c = await startTestCollector();
    await c.createKey('other.app');
    s.campA = secretOf(await c.apps.campaign('camp-a', 'test.app'));
    s.campB = secretOf(await c.apps.campaign('camp-b', 'other.app'));
    await c.apps.campaign('camp-a2', 'test.app');
    await c.apps.adUnit('admob', UNIT_A, 'test.app', 'camp-a');
    await c.apps.adUnit('admob', UNIT_B, 'other.app', 'camp-b');
    await c.apps.adUnit('pangle', 'a.rewarded', 'test.app', 'camp-a');
    await c.apps.adUnit('pangle', 'b.rewarded', 'other.app', 'camp-b');
    const a = await c.apps.network('pangle', 'test.app');
    [s.networkAId, s.networkA] = a.split(' ') as [string, string];
    s.networkB = secretOf(await c.apps.network('pangle', 'other.app'));
    await c.query("insert into campaigns (campaign_id) values ('camp-unowned')");
    await eventually(async () => (await postback(c, postbackBody(), s.campA)).status === 200);
  });
  afterAll(() => c?.stop());

  it("records a verified AdMob callback as a Confirmation keyed by user_id, for its ad unit's app and campaign, and a retry of it again", async () => {
    const eventId = randomUUID().toUpperCase();
    const query = admobQuery(c, {
      custom_data: eventId,
      transaction_id: 'abc123',
      user_id: 'alice',
      timestamp: 1_700_000_000_123,
    });
    const before = Date.now();
    expect(await get(c, `/v1/ssv/admob?${query}`)).toMatchObject({ status: 200, body: { status: 'recorded' } });
    expect((await get(c, `/v1/ssv/admob?${query}`)).status).toBe(200); // AdMob retried: the aggregator dedupes
    const records = (
      await readConfirmations(
        c.kafka,
        c.confirmationsTopic,
        (r) => r.filter((x) => x.value.transactionId === 'abc123').length >= 2,
      )
    ).filter((r) => r.value.transactionId === 'abc123');
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({
      key: 'alice',
      value: {
        version: 1,
        source: 'admob',
        transactionId: 'abc123',
        appId: 'test.app',
        userId: 'alice',
        campaignId: 'camp-a',
        eventId: eventId.toLowerCase(),
        clickId: '',
        occurredAt: 1_700_000_000_123,
        keyId: String(c.admob.keyId),
        adUnit: UNIT_A,
        rewardItem: 'coins',
        rewardAmount: 10,
      },
    });
    expect(records[0]!.value.receivedAt).toBeGreaterThanOrEqual(before);
  });

  it("records an HMAC network callback with the app and secret that verified it, and its ad unit's campaign", async () => {
    const eventId = randomUUID();
    expect(
      await get(c, `/v1/ssv/pangle?${networkQuery(s.networkA, { custom_data: eventId, transaction_id: 'pg-1' })}`),
    ).toMatchObject({ status: 200 });
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) => rs.some((x) => x.value.transactionId === 'pg-1'))
    ).filter((x) => x.value.transactionId === 'pg-1');
    expect(r).toMatchObject({
      key: 'bob',
      value: {
        source: 'pangle',
        appId: 'test.app',
        userId: 'bob',
        campaignId: 'camp-a',
        adUnit: 'a.rewarded',
        eventId,
        keyId: s.networkAId,
        rewardAmount: 5,
        rewardItem: 'gems',
      },
    });
  });

  it('records a conversion postback with its campaign, and the transaction id <campaign_id>:<event_id|click_id>', async () => {
    const clickId = randomUUID();
    const body = postbackBody({ event_id: undefined, click_id: clickId, occurred_at: 1_700_000_000_000 });
    expect(await postback(c, body, s.campA)).toMatchObject({ status: 200, body: { status: 'recorded' } });
    const tx = `camp-a:${clickId}`;
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) => rs.some((x) => x.value.transactionId === tx))
    ).filter((x) => x.value.transactionId === tx);
    expect(r).toMatchObject({
      key: 'carol',
      value: {
        source: 'postback',
        appId: 'test.app',
        campaignId: 'camp-a',
        userId: 'carol',
        eventId: '',
        clickId,
        valueMicros: 2_500_000,
        currency: 'CNY',
        occurredAt: 1_700_000_000_000,
      },
    });
  });

  it("gives a Google-signed callback the app of its ad unit: another app's unit confirms for that app only", async () => {
    expect((await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: UNIT_B, transaction_id: 'unit-b' })}`)).status).toBe(
      200,
    );
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) => rs.some((x) => x.value.transactionId === 'unit-b'))
    ).filter((x) => x.value.transactionId === 'unit-b');
    expect(r!.value).toMatchObject({ appId: 'other.app', campaignId: 'camp-b' });
  });

  it('takes the query as sent (escapes and all) and verifies it as Google signs it', async () => {
    const query = admobQuery(c, {
      ad_unit: '1',
      user_id: 'erik.boscher@web.de',
      reward_item: 'Key Doubler',
      transaction_id: 'escaped',
    });
    expect(query).toContain('user_id=erik.boscher%40web.de');
    expect(await get(c, `/v1/ssv/admob?${query}`)).toMatchObject({ status: 200 });
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) =>
        rs.some((x) => x.value.transactionId === 'escaped'),
      )
    ).filter((x) => x.value.transactionId === 'escaped');
    expect(r).toMatchObject({
      key: 'erik.boscher@web.de',
      value: { userId: 'erik.boscher@web.de', rewardItem: 'Key Doubler' },
    });
  });

  it('matches the ad unit number Google\'s callbacks carry ("…/1") to the unit registered as "ca-app-pub-…/1"', async () => {
    expect(
      await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: '1', transaction_id: 'unit-number' })}`),
    ).toMatchObject({ status: 200 });
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) =>
        rs.some((x) => x.value.transactionId === 'unit-number'),
      )
    ).filter((x) => x.value.transactionId === 'unit-number');
    expect(r!.value).toMatchObject({ appId: 'test.app', adUnit: '1' });
  });

  it('confirms for no app an ad unit number two rows claim for two apps or two campaigns (rows written before the CLI refused that)', async () => {
    await c.query(`insert into ad_units (network, ad_unit, app_id, campaign_id) values ('admob', 'ca-app-pub-7/77', 'test.app', 'camp-a'), ('admob', '77', 'other.app', 'camp-b'),
      ('admob', 'ca-app-pub-6/66', 'test.app', 'camp-a'), ('admob', '66', 'test.app', 'camp-a2'), ('admob', '88', 'test.app', 'camp-a')`);
    await eventually(async () => (await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: '88' })}`)).status === 200); // the cache reloaded
    for (const unit of ['77', 'ca-app-pub-7/77', '66'])
      expect(await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: unit })}`)).toMatchObject({
        status: 403,
        body: { error: 'unknown_ad_unit' },
      });
  });

  it('refuses callbacks of a unit registered before migration 0011 (no campaign), until it is registered again with one', async () => {
    await c.query(
      "insert into ad_units (network, ad_unit, app_id) values ('admob', '99', 'test.app'), ('pangle', 'a.old', 'test.app')",
    );
    const admobOld = admobQuery(c, { ad_unit: '99', transaction_id: 'old-unit' });
    await eventually(async () => (await get(c, `/v1/ssv/admob?${admobOld}`)).body.error === 'ad_unit_without_campaign'); // the cache reloaded
    expect(await get(c, `/v1/ssv/admob?${admobOld}`)).toMatchObject({
      status: 503,
      body: { error: 'ad_unit_without_campaign' },
    });
    expect(await get(c, `/v1/ssv/pangle?${networkQuery(s.networkA, { ad_unit: 'a.old' })}`)).toMatchObject({
      status: 503,
      body: { error: 'ad_unit_without_campaign' },
    });
    // The operator registers it again with its campaign; the network's retry of the same callback then records it.
    expect(await c.apps.adUnit('admob', '99', 'test.app', 'camp-a2')).toBe('admob 99 test.app camp-a2');
    await eventually(async () => (await get(c, `/v1/ssv/admob?${admobOld}`)).status === 200);
    const [r] = (
      await readConfirmations(c.kafka, c.confirmationsTopic, (rs) =>
        rs.some((x) => x.value.transactionId === 'old-unit'),
      )
    ).filter((x) => x.value.transactionId === 'old-unit');
    expect(r!.value).toMatchObject({ appId: 'test.app', campaignId: 'camp-a2', adUnit: '99' });
  });

  it.each<[string, () => string, number, string]>([
    [
      'a Google-valid callback for an ad unit registered to no app here',
      () => `/v1/ssv/admob?${admobQuery(c, { ad_unit: 'ca-app-pub-9/9' })}`,
      403,
      'unknown_ad_unit',
    ],
    ['an AdMob key_id Google does not publish', () => `/v1/ssv/admob?${admobQuery(c, {}, 77)}`, 403, 'unknown_key'],
    [
      'a tampered AdMob callback',
      () => `/v1/ssv/admob?${admobQuery(c).replace('user_id=alice', 'user_id=mallory')}`,
      401,
      'bad_signature',
    ],
    [
      'an AdMob callback with a parameter after key_id',
      () => `/v1/ssv/admob?${admobQuery(c)}&user_id=mallory`,
      401,
      'malformed_signature',
    ],
    [
      'an AdMob callback whose custom_data is not an event id',
      () => `/v1/ssv/admob?${admobQuery(c, { custom_data: 'x' })}`,
      400,
      'invalid_custom_data',
    ],
    [
      "app A's network secret claiming app B",
      () => `/v1/ssv/pangle?${networkQuery(s.networkA, { app_id: 'other.app' })}`,
      401,
      'bad_signature',
    ],
    ['a network with no secret for the app', () => `/v1/ssv/gdt?${networkQuery(s.networkA)}`, 403, 'unknown_network'],
    [
      'an HMAC callback with no ad unit',
      () => `/v1/ssv/pangle?${networkQuery(s.networkA, { ad_unit: '' })}`,
      400,
      'invalid_ad_unit',
    ],
    [
      'an HMAC callback naming an ad unit registered nowhere',
      () => `/v1/ssv/pangle?${networkQuery(s.networkA, { ad_unit: 'x.rewarded' })}`,
      403,
      'unknown_ad_unit',
    ],
    [
      "an HMAC callback naming another app's ad unit under its own app's secret",
      () => `/v1/ssv/pangle?${networkQuery(s.networkA, { ad_unit: 'b.rewarded' })}`,
      403,
      'unknown_ad_unit',
    ],
    [
      'an HMAC callback without a signature',
      () => '/v1/ssv/pangle?app_id=test.app&user_id=bob',
      401,
      'missing_signature',
    ],
  ])('refuses %s', async (_name, path, status, error) => {
    expect(await get(c, path())).toMatchObject({ status, body: { error } });
  });

  it.each<[string, () => ReturnType<typeof postback>, number, string]>([
    [
      "app A's campaign signed with app B's campaign secret",
      () => postback(c, postbackBody(), s.campB),
      401,
      'bad_signature',
    ],
    ['a stale t', () => postback(c, postbackBody(), s.campA, Date.now() - 301_000), 401, 'timestamp_too_old'],
    [
      'a campaign no app owns',
      () => postback(c, postbackBody({ campaign_id: 'camp-unowned' }), s.campA),
      403,
      'unknown_campaign',
    ],
    [
      'a campaign with no row',
      () => postback(c, postbackBody({ campaign_id: 'camp-none' }), s.campA),
      403,
      'unknown_campaign',
    ],
    [
      'both event_id and click_id',
      () => postback(c, postbackBody({ click_id: randomUUID() }), s.campA),
      400,
      'invalid_event_id',
    ],
    ['a body that is not JSON', () => postback(c, '{"campaign_id":', s.campA), 400, 'undecodable_body'],
  ])('refuses a postback with %s', async (_name, send, status, error) => {
    expect(await send()).toMatchObject({ status, body: { error } });
  });

  it('sees a revoked network secret and a new ad unit within seconds, without a restart', async () => {
    await c.query('update ad_network_secrets set revoked_at = now() where secret_id = $1', [s.networkAId]);
    await eventually(async () => (await get(c, `/v1/ssv/pangle?${networkQuery(s.networkA)}`)).status === 403);
    const unit = 'ca-app-pub-3/3';
    expect((await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: unit })}`)).status).toBe(403);
    await c.apps.adUnit('admob', unit, 'test.app', 'camp-a');
    await eventually(async () => (await get(c, `/v1/ssv/admob?${admobQuery(c, { ad_unit: unit })}`)).status === 200);
  });

  it('counts confirmations by source and outcome, never by the network name in the URL', async () => {
    await get(c, `/v1/ssv/made-up-${randomUUID().slice(0, 8)}?${networkQuery(s.networkB)}`);
    const metrics = await (await fetch(`${c.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/ingest_confirmations_total\{source="admob",outcome="recorded"\} [1-9]/);
    expect(metrics).toMatch(/ingest_confirmations_total\{source="hmac",outcome="unknown_network"\} [1-9]/);
    expect(metrics).toMatch(/ingest_confirmations_total\{source="postback",outcome="bad_signature"\} [1-9]/);
    expect(metrics).not.toMatch(/source="(pangle|made-up)/);
  });
});

describe('S2S endpoints when Kafka cannot take a record now (node:http server)', () => {
  let c: Collector;
  beforeAll(async () => {
    c = await startTestCollector({ INGEST_QUEUE_MAX_EVENTS: '0', INGEST_SERVER: 'node' });
    campaignSecret = secretOf(await c.apps.campaign('camp-a', 'test.app'));
    await c.apps.adUnit('admob', UNIT_A, 'test.app', 'camp-a');
    await c.apps.adUnit('pangle', 'a.rewarded', 'test.app', 'camp-a');
    await c.apps.network('pangle', 'test.app').then((line) => (networkSecret = secretOf(line)));
  });
  afterAll(() => c?.stop());
  let networkSecret = '';
  let campaignSecret = '';

  it('answers 503 with Retry-After, for each endpoint, and records nothing', async () => {
    await eventually(async () => (await postback(c, postbackBody(), campaignSecret)).status !== 403);
    const answers = [
      await get(c, `/v1/ssv/admob?${admobQuery(c)}`),
      await get(c, `/v1/ssv/pangle?${networkQuery(networkSecret)}`),
      await postback(c, postbackBody(), campaignSecret),
    ];
    expect(answers.map((a) => [a.status, a.retryAfter, a.body.error])).toEqual(Array(3).fill([503, '2', 'queue_full']));
    expect(await readConfirmations(c.kafka, c.confirmationsTopic, () => false, 1_500)).toEqual([]);
  });
});
