// The no-confirmation authorizations in Postgres (payout_authorizations, migration 0013): each person's
// request as WeChat last showed it, and, per transfer bill, the authorization it is sent with, fixed
// before its first send so a retry sends the same request (sql/batch-authorizations.sql).
import type pg from 'pg';
import type { SecretBox } from '../common/secretbox.js';
import { loadSql } from '../common/sql.js';
import type { BatchParams } from './providers/provider.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'authorization-of',
  'save-authorization',
  'batch-authorizations',
  'batch-authorization-ids',
] as const);

export type ConfirmMode = 'page' | 'authorized';
export interface StoredAuthorization {
  outNo: string;
  sameOpenid: boolean;
  authorizationId: string | null;
  state: string;
  packageInfo: string | null;
}

export function createAuthorizationStore(
  config: { mode: ConfirmMode; params: BatchParams },
  deps: { pool: pg.Pool; box: SecretBox },
) {
  return {
    /** PAYOUTS_BILL_CONFIRM_MODE, and the scene and notify URL an authorization request carries. */
    mode: config.mode,
    params: config.params,

    /** Person `person`'s link (openid unsealed) and authorization request; undefined when not linked. */
    async of(
      person: string,
    ): Promise<{ openid: string; openidMac: Buffer; authorization?: StoredAuthorization } | undefined> {
      const r = (
        await deps.pool.query<{
          openid_enc: Buffer;
          openid_mac: Buffer;
          out_authorization_no: string | null;
          same_openid: boolean | null;
          authorization_id: string | null;
          state: string | null;
          package_info: string | null;
        }>(sql['authorization-of'], [person])
      ).rows[0];
      if (!r) return undefined;
      return {
        openid: deps.box.open(r.openid_enc),
        openidMac: r.openid_mac,
        ...(r.out_authorization_no
          ? {
              authorization: {
                outNo: r.out_authorization_no,
                sameOpenid: r.same_openid === true,
                authorizationId: r.authorization_id,
                state: r.state!,
                packageInfo: r.package_info,
              },
            }
          : {}),
      };
    },

    /** Records what WeChat showed of `person`'s request `outNo`. */
    save: async (
      person: string,
      a: { outNo: string; openidMac: Buffer; authorizationId?: string; state: string; packageInfo?: string },
    ) =>
      void (await deps.pool.query(sql['save-authorization'], [
        person,
        a.outNo,
        a.openidMac,
        a.authorizationId ?? '',
        a.state,
        a.packageInfo ?? '',
      ])),

    /** Fixes how batch `batchNo`'s undecided bills are sent, then answers the authorization of each bill sent with one. */
    async decide(batchNo: string): Promise<Map<string, string>> {
      await deps.pool.query(sql['batch-authorizations'], [batchNo, config.mode === 'authorized']);
      const { rows } = await deps.pool.query<{ request_no: string; authorization_id: string }>(
        sql['batch-authorization-ids'],
        [batchNo],
      );
      return new Map(rows.map((r) => [r.request_no, r.authorization_id]));
    },
  };
}
export type AuthorizationStore = ReturnType<typeof createAuthorizationStore>;
