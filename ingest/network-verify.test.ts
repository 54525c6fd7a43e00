import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AdUnit } from './ad-unit.js';
import { verifyNetwork, type NetworkDeps } from './network-verify.js';
import { signNetworkQuery } from './s2s-signing.js';

const EVENT = '0b7c2a4e-5d1f-4c3b-9a8e-7f6d5c4b3a21';
const params = {
  app_id: 'app.a',
  ad_unit: 'a.rewarded',
  user_id: 'u1',
  custom_data: EVENT,
  transaction_id: 'tx-1',
  reward_amount: 5,
  reward_item: 'gems',
  timestamp: 1_700_000_000_000,
};
// app.a has a revoked secret and a live one; app.b its own.
const secrets: Record<string, { secretId: string; secret: string }[]> = {
  'pangle/app.a': [{ secretId: '2', secret: 'secret-a-new' }],
  'pangle/app.b': [{ secretId: '3', secret: 'secret-b' }],
  // Rows the CLI would refuse today: names the aggregator reads as other sources.
  'postback/app.a': [{ secretId: '4', secret: 'secret-pb' }],
  'admob/app.a': [{ secretId: '5', secret: 'secret-am' }],
};
// Ad units by network/unit: app.a's bound to its video campaign, one of app.a registered before
// migration 0011 (no campaign), app.b's, and one of app.a at another network.
const units: Record<string, AdUnit> = {
  'pangle/a.rewarded': { appId: 'app.a', campaignId: 'a-video' },
  'pangle/a.old': { appId: 'app.a', campaignId: null },
  'pangle/b.rewarded': { appId: 'app.b', campaignId: 'b-video' },
  'gdt/a.gdt': { appId: 'app.a', campaignId: 'a-video' },
};
const deps: NetworkDeps = {
  secrets: (network: string, appId: string) =>
    (secrets[`${network}/${appId}`] ?? []).map((s) => ({
      secretId: s.secretId,
      secret: createSecretKey(Buffer.from(s.secret)),
    })),
  adUnit: (network, adUnit) => units[`${network}/${adUnit}`],
};

describe('verifyNetwork', () => {
  const rows: [string, string, () => string, object][] = [
    [
      "a callback signed with the app's live secret",
      'pangle',
      () => signNetworkQuery(params, 'secret-a-new'),
      {
        ok: true,
        value: {
          appId: 'app.a',
          campaignId: 'a-video',
          adUnit: 'a.rewarded',
          keyId: '2',
          eventId: EVENT,
          userId: 'u1',
          transactionId: 'tx-1',
          rewardAmount: 5,
          occurredAt: 1_700_000_000_000,
        },
      },
    ],
    [
      'no ad_unit',
      'pangle',
      () => {
        const { ad_unit: _u, ...rest } = params;
        return signNetworkQuery(rest, 'secret-a-new');
      },
      { ok: false, status: 400, error: 'invalid_ad_unit' },
    ],
    [
      'an ad unit registered nowhere',
      'pangle',
      () => signNetworkQuery({ ...params, ad_unit: 'x' }, 'secret-a-new'),
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    [
      "another app's ad unit under the app's own secret",
      'pangle',
      () => signNetworkQuery({ ...params, ad_unit: 'b.rewarded' }, 'secret-a-new'),
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    [
      "the app's unit at another network",
      'pangle',
      () => signNetworkQuery({ ...params, ad_unit: 'a.gdt' }, 'secret-a-new'),
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    [
      'a unit registered with no campaign (before migration 0011)',
      'pangle',
      () => signNetworkQuery({ ...params, ad_unit: 'a.old' }, 'secret-a-new'),
      { ok: false, status: 503, error: 'ad_unit_without_campaign' },
    ],
    [
      'a signed ad unit swapped for another',
      'pangle',
      () =>
        signNetworkQuery({ ...params, ad_unit: 'a.old' }, 'secret-a-new').replace(
          'ad_unit=a.old',
          'ad_unit=a.rewarded',
        ),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a revoked (or any other) secret',
      'pangle',
      () => signNetworkQuery(params, 'secret-a-old'),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      "app A's secret claiming app B",
      'pangle',
      () => signNetworkQuery({ ...params, app_id: 'app.b' }, 'secret-a-new'),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a tampered parameter',
      'pangle',
      () => signNetworkQuery(params, 'secret-a-new').replace('user_id=u1', 'user_id=u2'),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a parameter after the signature',
      'pangle',
      () => `${signNetworkQuery(params, 'secret-a-new')}&user_id=u2`,
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    [
      'an upper-case hex signature',
      'pangle',
      () =>
        signNetworkQuery(params, 'secret-a-new').replace(
          /signature=(.+)$/,
          (_, h: string) => `signature=${h.toUpperCase()}`,
        ),
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    [
      'an app the network has no secret for',
      'pangle',
      () => signNetworkQuery({ ...params, app_id: 'app.c' }, 'x'),
      { ok: false, status: 403, error: 'unknown_network' },
    ],
    [
      'a network with no secrets',
      'gdt',
      () => signNetworkQuery(params, 'secret-a-new'),
      { ok: false, status: 403, error: 'unknown_network' },
    ],
    [
      '"postback", which the aggregator reads as an advertiser\'s postback (its transaction ids <campaign>:<event>)',
      'postback',
      () => signNetworkQuery({ ...params, transaction_id: `camp-a:${EVENT}` }, 'secret-pb'),
      { ok: false, status: 403, error: 'unknown_network' },
    ],
    [
      '"admob", which signs with Google\'s keys',
      'admob',
      () => signNetworkQuery(params, 'secret-am'),
      { ok: false, status: 403, error: 'unknown_network' },
    ],
    [
      'a network name outside [a-z0-9_-]{1,32}',
      'Pangle',
      () => signNetworkQuery(params, 'secret-a-new'),
      { ok: false, status: 403, error: 'unknown_network' },
    ],
    [
      'a repeated parameter',
      'pangle',
      () => signNetworkQuery(params, 'secret-a-new').replace('user_id=u1', 'user_id=u1&user_id=u2'),
      { ok: false, status: 400, error: 'malformed_query' },
    ],
    [
      'a bad percent-encoding',
      'pangle',
      () =>
        signNetworkQuery({ ...params, reward_item: 'x' }, 'secret-a-new').replace(
          'reward_item=x',
          'reward_item=%C3%28',
        ),
      { ok: false, status: 400, error: 'malformed_query' },
    ],
    [
      'no user_id',
      'pangle',
      () => signNetworkQuery({ ...params, user_id: '' }, 'secret-a-new'),
      { ok: false, status: 400, error: 'invalid_user_id' },
    ],
    [
      'no timestamp',
      'pangle',
      () => signNetworkQuery({ ...params, timestamp: 'soon' }, 'secret-a-new'),
      { ok: false, status: 400, error: 'invalid_timestamp' },
    ],
  ];
  it.each(rows)('%s', (_name, network, query, expected) => {
    expect(verifyNetwork(network, query(), deps)).toMatchObject(expected);
  });
});
