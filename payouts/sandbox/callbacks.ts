// The sandbox's callbacks (reference/wechatpay.md §3): an encrypted resource in a signed envelope,
// POSTed to the notify_url until it answers 2xx, on WeChat's retry schedule (15 s … 6 h, 24 h 4 m in
// all), compressed by `timeScale`. Faults: duplicates, reordering, a bad signature first, SIGNTEST
// probes; a receiver must verify, dedupe and tolerate all of them. A callback not yet acknowledged
// is journaled with its next attempt, so a restarted sandbox carries on retrying it.
// A notify_url is https (the create refuses anything else, as WeChat does), but the sandbox delivers
// over plain HTTP to the same host and port: a stand-in for the TLS terminator in front of the
// merchant's service, which the local stack does not run.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { encryptResource } from '../wechat/v3-crypto.js';
import type { Journal } from './journal.js';
import type { Faults } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';
import { signedHeaders, type SandboxKeys } from './v3-auth.js';

export const RETRY_SCHEDULE_S = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600];

/** A callback owed: where, what, and which attempt is next. */
interface Owed { url: string; body: string; attempt: number }

export function createNotifier(
  config: { apiV3Key: string; timeScale: number },
  deps: { keys: SandboxKeys; faults: Faults; journal: Journal; timers: Timers; log: Logger; now(): number },
) {
  const later = deps.timers.later;
  const delivered = { acked: 0, attempts: 0 };
  const owed = deps.journal.records<Owed>('callback');

  async function post(url: string, body: string, corrupt: 'none' | 'bad' | 'signtest'): Promise<boolean> {
    const headers = signedHeaders(deps.keys, undefined, body, Math.floor(deps.now() / 1000));
    if (corrupt === 'bad') headers['wechatpay-signature'] = Buffer.from(`forged-${headers['wechatpay-signature']}`).toString('base64');
    if (corrupt === 'signtest') headers['wechatpay-signature'] = `WECHATPAY/SIGNTEST/${headers['wechatpay-signature']!.slice(0, 32)}`;
    delivered.attempts++;
    try {
      const res = await fetch(url.replace(/^https:/, 'http:'), { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) });
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  /** Attempt `attempt` of callback `id`; a duplicate (a fault) has no id and is not journaled. */
  function deliver(id: string | undefined, url: string, body: string, attempt: number, badFirst: boolean) {
    void post(url, body, badFirst ? 'bad' : 'none').then((acked) => {
      if (deps.timers.stopped) return; // as if the sandbox died mid-request: the journal says what it owed before
      if (acked && !badFirst) {
        delivered.acked++;
        if (id) owed.drop(id);
        return;
      }
      const wait = RETRY_SCHEDULE_S[attempt];
      if (wait === undefined) {
        if (id) owed.drop(id);
        return deps.log.warn({ url }, 'sandbox_callback_abandoned');
      }
      if (id) owed.save(id, { url, body, attempt: attempt + 1 });
      later(wait * 1000 * config.timeScale, () => deliver(id, url, body, attempt + 1, false));
    });
  }

  // Owed before a restart: the next attempt goes now.
  for (const [id, { url, body, attempt }] of owed.records) later(0, () => deliver(id, url, body, attempt, false));

  return {
    delivered,
    /** Sends one callback: `resource` is encrypted with the APIv3 key under `originalType`. */
    notify(url: string | undefined, eventType: string, summary: string, originalType: string, resource: unknown) {
      if (!url) return;
      const id = randomUUID();
      const body = JSON.stringify({
        id, create_time: chinaTime(deps.now()), event_type: eventType, resource_type: 'encrypt-resource', summary,
        resource: encryptResource(config.apiV3Key, JSON.stringify(resource), originalType, originalType),
      });
      owed.save(id, { url, body, attempt: 0 });
      const badFirst = deps.faults.badCallbackSignature > 0 && deps.faults.badCallbackSignature-- > 0;
      const delayMs = deps.faults.reorderCallbacks ? 50 + Math.floor(Math.random() * 200) : 0;
      if (deps.faults.signtestProbe) void post(url, body, 'signtest');
      later(delayMs, () => deliver(id, url, body, 0, badFirst));
      if (deps.faults.duplicateCallbacks) later(delayMs + 10, () => deliver(undefined, url, body, 0, false));
    },
  };
}
export type Notifier = ReturnType<typeof createNotifier>;
