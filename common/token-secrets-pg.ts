// Every app's live user-token secrets in memory (a token is checked on each request), for the rewards
// and payouts APIs; reloaded on NOTIFY 'app_token_secrets' (migration 0010): a revoked secret stops verifying within moments.
import { createPgCache } from './pg-cache.js';
import type { Logger } from './log.js';
import { loadSql } from './sql.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['live-app-token-secrets'] as const);

export async function createTokenSecrets(config: { DATABASE_URL: string; refreshMs: number }, deps: { log: Logger }) {
  const cache = await createPgCache(
    { DATABASE_URL: config.DATABASE_URL, channel: 'app_token_secrets', refreshMs: config.refreshMs },
    {
      log: deps.log,
      async load(db) {
        const byApp = new Map<string, string[]>();
        for (const r of (await db.query<{ app_id: string; secret: string }>(sql['live-app-token-secrets'])).rows) {
          byApp.set(r.app_id, [...(byApp.get(r.app_id) ?? []), r.secret]);
        }
        return byApp;
      },
    },
  );
  return { appSecrets: (appId: string): readonly string[] => cache.value.get(appId) ?? [], stop: () => cache.stop() };
}
