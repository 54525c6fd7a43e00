// The sandbox's WeChat web OAuth (reference/wechatpay.md §7): the consent page redirects back with a
// single-use code that lasts 5 minutes, and the code exchange answers like WeChat, errors included
// (200 with errcode). Openids are stable per (appid, sandbox user) and shaped like real ones.
import { createHmac, randomBytes } from 'node:crypto';

const CODE_TTL_MS = 5 * 60_000;
const werr = (errcode: number, errmsg: string) => ({ errcode, errmsg });

export function createOAuthSandbox(
  config: { appid: string; appSecret: string; seed: string },
  deps: { now(): number },
) {
  const codes = new Map<string, { appid: string; user: string; scope: string; expiresAt: number; used: boolean }>();
  const openid = (appid: string, user: string) =>
    `o${createHmac('sha256', config.seed).update(`${appid}/${user}`).digest('base64url').slice(0, 27)}`;

  return {
    openid,
    /**
     * GET /connect/oauth2/authorize: stands in for the user's consent in WeChat. `sandbox_user` names
     * the WeChat user who consents; the answer is WeChat's redirect to redirect_uri with code and state.
     */
    authorize(q: URLSearchParams): { redirect: string } | { error: string } {
      const redirect = q.get('redirect_uri');
      const user = q.get('sandbox_user');
      const scope = q.get('scope') ?? '';
      if (q.get('appid') !== config.appid) return { error: 'appid invalid (10003)' };
      if (!redirect || !/^https?:\/\//.test(redirect)) return { error: 'redirect_uri invalid (10011)' };
      if (q.get('response_type') !== 'code' || !['snsapi_base', 'snsapi_userinfo'].includes(scope))
        return { error: 'scope or response_type invalid (10005)' };
      if (!user) return { error: 'sandbox_user is required: it names the consenting WeChat user' };
      for (const [code, c] of codes) if (c.expiresAt < deps.now()) codes.delete(code);
      const code = randomBytes(16).toString('hex');
      codes.set(code, { appid: config.appid, user, scope, expiresAt: deps.now() + CODE_TTL_MS, used: false });
      const url = new URL(redirect);
      url.searchParams.set('code', code);
      url.searchParams.set('state', q.get('state') ?? '');
      return { redirect: url.href };
    },

    /** GET /sns/oauth2/access_token. */
    accessToken(q: URLSearchParams): Record<string, unknown> {
      if (q.get('grant_type') !== 'authorization_code') return werr(40002, 'invalid grant_type');
      if (q.get('appid') !== config.appid) return werr(40013, 'invalid appid');
      if (q.get('secret') !== config.appSecret) return werr(40125, 'invalid appsecret');
      const c = codes.get(q.get('code') ?? '');
      if (!c || c.expiresAt < deps.now()) return werr(40029, 'invalid code');
      if (c.used) return werr(40163, 'code been used');
      c.used = true;
      return {
        access_token: randomBytes(24).toString('base64url'),
        expires_in: 7200,
        refresh_token: randomBytes(24).toString('base64url'),
        openid: openid(c.appid, c.user),
        scope: c.scope,
      };
    },
  };
}
