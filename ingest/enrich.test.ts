import { describe, expect, it } from 'vitest';
import { classifyUserAgent, createEnricher, parseCidrs } from './enrich.js';

describe('classifyUserAgent', () => {
  it.each([
    ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'bot'],
    ['Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0', 'bot'],
    ['curl/8.4.0', 'bot'],
    ['python-requests/2.31', 'bot'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148', 'browser'],
    ['MyGame/3.2.0 (iOS 17.1; iPhone14,2)', 'app'],
    ['okhttp/4.12.0', 'app'],
    ['', 'other'],
  ])('%s is %s', (ua, cls) => expect(classifyUserAgent(ua)).toBe(cls));
});

describe('createEnricher', () => {
  const enrich = createEnricher({
    ipSalt: 'salt-1234',
    datacenters: parseCidrs('# clouds\n203.0.113.0/24\n2001:db8::/32 # docs\n'),
  });

  it.each([
    ['198.51.100.7', 'MyApp/1.0', ''],
    ['203.0.113.9', 'MyApp/1.0', 'datacenter_ip'],
    ['2001:db8::1', 'MyApp/1.0', 'datacenter_ip'],
    ['198.51.100.7', 'Googlebot/2.1', 'declared_bot'],
    ['not-an-ip', 'MyApp/1.0', ''],
  ])('flags %s with %s as %j, without dropping it', (ip, ua, reason) => {
    expect(enrich(ip, ua).invalidReason).toBe(reason);
  });

  it('hashes the IP with the salt and never returns it', () => {
    const a = enrich('198.51.100.7', '');
    expect(a.ipHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.ipHash).toBe(enrich('198.51.100.7', 'x').ipHash);
    expect(createEnricher({ ipSalt: 'other-salt', datacenters: parseCidrs('') })('198.51.100.7', '').ipHash).not.toBe(
      a.ipHash,
    );
  });

  it('refuses a bad CIDR line', () => {
    expect(() => parseCidrs('10.0.0.0/8\nnonsense/3')).toThrow(/bad CIDR "nonsense\/3"/);
  });
});
