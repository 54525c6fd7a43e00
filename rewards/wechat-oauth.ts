// WeChat web OAuth: exchanges the code WeChat redirected the user back with for the user's openid and
// tokens (GET /sns/oauth2/access_token). The same code talks to WeChat or, by default, the sandbox.
// WeChat answers errors as 200 with {errcode, errmsg}; they map through the table below.

export interface OAuthGrant {
  openid: string;
  accessToken: string;
  refreshToken: string;
  expiresInS: number;
  scope: string;
}
export type OAuthResult = { ok: true; grant: OAuthGrant } | { ok: false; error: OAuthError; detail: string };
export type OAuthError = 'invalid_code' | 'wechat_misconfigured' | 'wechat_unavailable';

/** errcode -> what it means for the caller (never matched on errmsg). */
const errcodes = new Map<number, OAuthError>([
  [40029, 'invalid_code'], // invalid, expired, or issued for another appid
  [40163, 'invalid_code'], // already used
  [40002, 'wechat_misconfigured'], // invalid grant_type
  [40013, 'wechat_misconfigured'], // invalid appid
  [40125, 'wechat_misconfigured'], // invalid appsecret
  [-1, 'wechat_unavailable'], // system busy
  [45011, 'wechat_unavailable'], // frequency limit
]);

export function createWechatOAuth(config: { baseUrl: string; appid: string; secret: string; timeoutMs: number }) {
  return {
    appid: config.appid,
    async exchange(code: string): Promise<OAuthResult> {
      const url = new URL('/sns/oauth2/access_token', config.baseUrl);
      url.search = new URLSearchParams({
        appid: config.appid,
        secret: config.secret,
        code,
        grant_type: 'authorization_code',
      }).toString();
      let body: Record<string, unknown>;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(config.timeoutMs) });
        if (!res.ok) return { ok: false, error: 'wechat_unavailable', detail: `HTTP ${res.status}` };
        body = (await res.json()) as Record<string, unknown>;
      } catch (err) {
        return { ok: false, error: 'wechat_unavailable', detail: (err as Error).message };
      }
      if (typeof body.errcode === 'number' && body.errcode !== 0) {
        return {
          ok: false,
          error: errcodes.get(body.errcode) ?? 'wechat_unavailable',
          detail: `errcode ${body.errcode}`,
        };
      }
      const { openid, access_token: accessToken, refresh_token: refreshToken, expires_in: expiresInS, scope } = body;
      if (
        typeof openid !== 'string' ||
        typeof accessToken !== 'string' ||
        typeof refreshToken !== 'string' ||
        typeof expiresInS !== 'number'
      ) {
        return { ok: false, error: 'wechat_unavailable', detail: 'unexpected response shape' };
      }
      return {
        ok: true,
        grant: { openid, accessToken, refreshToken, expiresInS, scope: typeof scope === 'string' ? scope : '' },
      };
    },
  };
}
export type WechatOAuth = ReturnType<typeof createWechatOAuth>;
