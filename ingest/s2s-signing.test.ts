import { createHmac, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signAdmobQuery, signNetworkQuery, signPostback } from './s2s-signing.js';

describe('s2s signing (what senders put on the wire)', () => {
  it('writes an AdMob query as Google does: parameters sorted, percent-encoded, then an unpadded URL-safe signature and key_id', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const q = signAdmobQuery(
      { user_id: 'a b', ad_unit: 'ca-app-pub-1/2', custom_data: 'x&y' },
      { keyId: 3335741209, privateKey },
    );
    expect(q).toMatch(
      /^ad_unit=ca-app-pub-1%2F2&custom_data=x%26y&user_id=a%20b&signature=[A-Za-z0-9_-]{90,96}&key_id=3335741209$/,
    );
  });

  it("signs an AdMob query in its decoded form, as Google's verifier (Tink) checks it", () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const q = signAdmobQuery({ user_id: 'erik@web.de', reward_item: 'Key Doubler' }, { keyId: 1, privateKey });
    const sig = Buffer.from(/&signature=([^&]+)/.exec(q)![1]!, 'base64url');
    expect(q.startsWith('reward_item=Key%20Doubler&user_id=erik%40web.de&')).toBe(true);
    expect(
      verify(
        'sha256',
        Buffer.from('reward_item=Key Doubler&user_id=erik@web.de'),
        { key: publicKey, dsaEncoding: 'der' },
        sig,
      ),
    ).toBe(true);
  });

  it('signs an HMAC network query over the raw query before &signature=, in lowercase hex', () => {
    const q = signNetworkQuery({ app_id: 'a', user_id: 'u' }, 's3cret');
    expect(q).toBe(
      `app_id=a&user_id=u&signature=${createHmac('sha256', 's3cret').update('app_id=a&user_id=u').digest('hex')}`,
    );
  });

  it('writes the Postback-Signature header over t + "." + body', () => {
    expect(signPostback('{"a":1}', 'pb', 1700000000000)).toBe(
      `t=1700000000000,v1=${createHmac('sha256', 'pb').update('1700000000000.{"a":1}').digest('hex')}`,
    );
  });
});
