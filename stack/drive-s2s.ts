// The servers-to-server side of driving the pipeline: telling the ad-network simulator (stack/ad-network/)
// what the networks and advertisers confirm, and forging callbacks as an attacker would, who holds an
// app's beacon key but neither Google's signing key nor a network's or advertiser's secret.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { signAdmobQuery, signNetworkQuery, signPostback } from '../ingest/s2s-signing.js';
import type { DeliveryStats } from './ad-network/deliveries.js';
import { ADMOB_AD_NETWORK, type Secrets } from './ad-network/network.js';
import type { Confirm, ForgedCallback, Scenario } from './traffic.js';

export interface S2sTarget {
  ingestUrl: string;
  adnetUrl: string;
  admobKeysUrl: string;
}

export function createS2sDriver(target: S2sTarget) {
  // The attacker's own P-256 key: it signs, but with nothing Google published.
  const forgerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

  async function post(path: string, body: unknown): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${target.adnetUrl}${path}`, { method: 'POST', body: JSON.stringify(body) }).catch(
        () => undefined,
      );
      if (res && res.status < 300) return;
      const text = await res?.text().catch(() => '');
      if ((res && res.status < 500) || attempt >= 40)
        throw new Error(`ad-network ${path}: ${res ? `HTTP ${res.status} ${text}` : 'no answer'}`);
      await sleep(500);
    }
  }

  /** The AdMob key id the collector trusts (from its verifier-key list), which a forger can read too. */
  async function publishedKeyId(): Promise<string> {
    const list = JSON.parse(await readFile(fileURLToPath(target.admobKeysUrl), 'utf8')) as {
      keys: { keyId: number }[];
    };
    return String(list.keys[0]!.keyId);
  }

  return {
    /** Network secrets and postback secrets, as `npm run apps` printed them, handed to the simulator. */
    secrets: (secrets: Secrets) => post('/v1/admin/secrets', secrets),

    /** Asks the simulator for `c`: the network's reward callback or the advertiser's postback, by its plan. */
    ask(s: Scenario, c: Confirm): Promise<void> {
      if (c.kind === 'postback') {
        return post('/v1/conversions', {
          campaign_id: c.campaign,
          ...(c.eventId ? { event_id: c.eventId } : { click_id: c.clickId }),
          user_id: c.userId,
          ...(c.valueMicros !== undefined ? { value_micros: c.valueMicros, currency: c.currency } : {}),
          occurred_at: c.occurredAt,
          plan: c.plan,
        });
      }
      const network = s.networks[c.app]!;
      return post('/v1/rewarded', {
        // The app's rewarded ad unit (registered with its video campaign); an HMAC network also names the app.
        network,
        ad_unit: s.adUnits[c.app],
        ...(network === 'admob' ? {} : { app_id: s.apps[c.app] }),
        user_id: c.userId,
        custom_data: c.eventId,
        reward_amount: 1,
        reward_item: 'coins',
        plan: c.plan,
      });
    },

    /** Sends a forged callback to the collector; its answer's error code (or `http_<status>`). */
    async forge(s: Scenario, f: ForgedCallback): Promise<string> {
      const now = Date.now();
      const common = {
        custom_data: f.eventId,
        reward_amount: 1,
        reward_item: 'coins',
        timestamp: now,
        transaction_id: randomBytes(16).toString('hex'),
        user_id: f.userId,
      };
      let send: () => Promise<Response>;
      if (f.kind === 'admob_own_key') {
        const query = signAdmobQuery(
          { ad_network: ADMOB_AD_NETWORK, ad_unit: s.adUnits[f.app]!, ...common },
          { keyId: await publishedKeyId(), privateKey: forgerKey },
        );
        send = () => fetch(`${target.ingestUrl}/v1/ssv/admob?${query}`);
      } else if (f.kind === 'network_guessed_secret') {
        const query = signNetworkQuery(
          { app_id: s.apps[f.app]!, ad_unit: s.adUnits[f.app]!, ...common },
          randomBytes(32).toString('hex'),
        );
        send = () => fetch(`${target.ingestUrl}/v1/ssv/${s.networks[f.app]}?${query}`);
      } else {
        const body = JSON.stringify({
          campaign_id: f.campaign,
          event_id: f.eventId,
          user_id: f.userId,
          value_micros: 99_000_000,
          currency: 'CNY',
          occurred_at: now,
        });
        const signature = signPostback(body, randomBytes(32).toString('hex'), now);
        send = () =>
          fetch(`${target.ingestUrl}/v1/postbacks`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json', 'postback-signature': signature },
          });
      }
      // As any sender would: again while the collector does not answer or answers 5xx (a restart).
      let res: Response | undefined;
      for (let attempt = 1; attempt <= 40; attempt++) {
        res = await send().catch(() => undefined);
        if (res && res.status < 500) break;
        await sleep(500);
      }
      if (!res) throw new Error(`forged ${f.kind}: the collector never answered`);
      const answer = (await res.json().catch(() => ({}))) as { error?: string };
      return answer.error ?? `http_${res.status}`;
    },

    stats: async () => (await (await fetch(`${target.adnetUrl}/v1/stats`)).json()) as DeliveryStats,

    /** Waits until the simulator has nothing left to deliver (late callbacks, retries). */
    async delivered(timeoutMs: number): Promise<DeliveryStats> {
      for (const deadline = Date.now() + timeoutMs; ; await sleep(500)) {
        const stats = await this.stats().catch(() => undefined);
        if (stats?.pending === 0) return stats;
        if (Date.now() > deadline)
          throw new Error(
            `timed out after ${timeoutMs / 1000} s waiting for the ad networks' callbacks (${stats?.pending ?? '?'} pending)`,
          );
      }
    },
  };
}
export type S2sDriver = ReturnType<typeof createS2sDriver>;
