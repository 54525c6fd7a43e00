// The user's one-time authorization for transfer bills without a confirm page (免确认收款授权 [U];
// PAYOUTS_BILL_CONFIRM_MODE=authorized): POST /v1/payouts/authorization asks WeChat for it (what the
// app opens the authorize page with), GET /v1/payouts/authorization shows where it stands.
import { createHash } from 'node:crypto';
import { apiError, type ApiResponse } from '../common/http-server.js';
import type { AuthorizationStore } from './authorizations-pg.js';
import type { V3Client } from './wechat/v3-client.js';

export function createAuthorizationRoutes(
  config: { mchId: string; appId: string },
  deps: { store: AuthorizationStore; v3: Pick<V3Client, 'createAuthorization' | 'getAuthorization'> },
) {
  const { store } = deps;
  const view = (state: string, packageInfo: string | null | undefined) => ({
    status: 200,
    body: {
      mchId: config.mchId,
      appId: config.appId,
      package: state === 'WAIT_USER_CONFIRM' ? (packageInfo ?? null) : null,
      state,
    },
  });
  const disabled = () =>
    apiError(
      409,
      'authorization_disabled',
      'transfer bills go through the confirm page (PAYOUTS_BILL_CONFIRM_MODE=page)',
    );
  const refused = (code: string, message: string) =>
    apiError(503, 'unavailable', `WeChat Pay answered ${code}: ${message}`);

  return {
    /**
     * Creates (or returns) person `person`'s authorization request for the openid linked now. Its number
     * comes from the person and the openid, so a repeat, however concurrent, sends the same request.
     */
    async request(person: string): Promise<ApiResponse> {
      if (store.mode !== 'authorized') return disabled();
      const link = await store.of(person);
      if (!link) return apiError(409, 'not_linked', 'link WeChat first (POST /v1/users/{user_id}/wechat/link)');
      const current = link.authorization?.sameOpenid ? link.authorization : undefined;
      if (current?.state === 'AUTHORIZED') return view(current.state, null);
      const outNo =
        current?.outNo ?? createHash('sha256').update(`${person}\n`).update(link.openidMac).digest('hex').slice(0, 32);
      const a = await deps.v3.createAuthorization({
        out_authorization_no: outNo,
        appid: config.appId,
        openid: link.openid,
        transfer_scene_id: store.params.sceneId,
        ...(store.params.notifyUrl ? { authorization_notify_url: store.params.notifyUrl } : {}),
      });
      if (!a.ok) return refused(a.code, a.message);
      await store.save(person, {
        outNo,
        openidMac: link.openidMac,
        authorizationId: a.data.authorization_id,
        state: a.data.state,
        packageInfo: a.data.package_info,
      });
      return view(a.data.state, a.data.package_info);
    },

    /** Person `person`'s authorization as WeChat shows it now (asked again until AUTHORIZED). */
    async show(person: string): Promise<ApiResponse> {
      if (store.mode !== 'authorized') return disabled();
      const link = await store.of(person);
      const current = link?.authorization?.sameOpenid ? link.authorization : undefined;
      if (!link || !current)
        return apiError(404, 'not_found', 'no authorization requested (POST /v1/payouts/authorization)');
      if (current.state === 'AUTHORIZED') return view(current.state, null);
      const a = await deps.v3.getAuthorization(current.outNo);
      if (!a.ok) return refused(a.code, a.message);
      await store.save(person, {
        outNo: current.outNo,
        openidMac: link.openidMac,
        authorizationId: a.data.authorization_id,
        state: a.data.state,
      });
      return view(a.data.state, current.packageInfo);
    },
  };
}
