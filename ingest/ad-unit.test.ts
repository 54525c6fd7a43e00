import { describe, expect, it } from 'vitest';
import { boundUnit, type AdUnit } from './ad-unit.js';

const bound: AdUnit = { appId: 'app.a', campaignId: 'a-video' };

describe('boundUnit', () => {
  it.each<[string, string, AdUnit | undefined, string | undefined, object]>([
    [
      'a registered AdMob unit: its app and campaign',
      'u1',
      bound,
      undefined,
      { ok: true, appId: 'app.a', campaignId: 'a-video' },
    ],
    [
      "an HMAC network's unit registered to the signed app",
      'u1',
      bound,
      'app.a',
      { ok: true, appId: 'app.a', campaignId: 'a-video' },
    ],
    [
      "an HMAC network's unit registered to another app than the signed one",
      'u1',
      bound,
      'app.b',
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    ['a unit registered nowhere', 'u9', undefined, undefined, { ok: false, status: 403, error: 'unknown_ad_unit' }],
    [
      'a unit registered before migration 0011, with no campaign',
      'u1',
      { appId: 'app.a', campaignId: null },
      undefined,
      { ok: false, status: 503, error: 'ad_unit_without_campaign' },
    ],
    [
      'an HMAC callback of another app naming a unit with no campaign: unknown first',
      'u1',
      { appId: 'app.a', campaignId: null },
      'app.b',
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    ['no ad unit', '', undefined, 'app.a', { ok: false, status: 400, error: 'invalid_ad_unit' }],
    [
      'an ad unit over 128 characters',
      'u'.repeat(129),
      bound,
      'app.a',
      { ok: false, status: 400, error: 'invalid_ad_unit' },
    ],
  ])('%s', (_name, name, unit, signedAppId, expected) => {
    expect(boundUnit(name, unit, signedAppId)).toEqual(expect.objectContaining(expected));
  });
});
