import { describe, expect, it } from 'vitest';
import { adUnitArgs, adUnitCampaignProblem } from './apps-s2s.js';

describe('apps ad-unit arguments', () => {
  it.each<[string, [string, string, string, string], string]>([
    [
      'an AdMob unit by its full id: stored as its number',
      ['admob', 'ca-app-pub-1/2747237135', 'app.a', 'c1'],
      '2747237135',
    ],
    ['an AdMob unit by its number', ['admob', '2747237135', 'app.a', 'c1'], '2747237135'],
    ["an HMAC network's unit, as given", ['pangle', 'p/1', 'app.a', 'c1'], 'p/1'],
  ])('takes %s', (_name, args, stored) => {
    expect(adUnitArgs(...args)).toBe(stored);
  });

  it.each<[string, [string, string, string, string], string]>([
    ['an app id with a colon', ['admob', '1', 'a:b', 'c1'], 'app_id must be'],
    ['the postback source as a network', ['postback', '1', 'app.a', 'c1'], 'network must be admob or an HMAC network'],
    ['a network name with capitals', ['Pangle', '1', 'app.a', 'c1'], 'network must be'],
    ['an AdMob unit ending in "/"', ['admob', 'ca-app-pub-1/', 'app.a', 'c1'], 'ad_unit must be'],
    ['an ad unit over 128 characters', ['pangle', 'u'.repeat(129), 'app.a', 'c1'], 'ad_unit must be'],
    ['no campaign', ['admob', '1', 'app.a', ''], 'campaign_id must be'],
    ['a campaign id over 64 characters', ['admob', '1', 'app.a', 'c'.repeat(65)], 'campaign_id must be'],
  ])('refuses %s', (_name, args, message) => {
    expect(() => adUnitArgs(...args)).toThrow(message);
  });
});

describe('which campaign an ad unit may confirm for', () => {
  it.each<[string, string | null | undefined, string]>([
    ["a campaign of the unit's app", 'app.a', ''],
    [
      'a campaign that does not exist',
      undefined,
      'no campaign c1 (create it first: npm run apps -- campaign c1 app.a)',
    ],
    ['a campaign of no app', null, 'campaign c1 belongs to no app, not to app app.a'],
    ['a campaign of another app', 'app.b', 'campaign c1 belongs to app app.b, not to app app.a'],
  ])('%s', (_name, owner, problem) => {
    expect(adUnitCampaignProblem('c1', 'app.a', owner)).toBe(problem);
  });
});
