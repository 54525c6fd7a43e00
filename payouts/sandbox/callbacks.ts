// The sandbox's callbacks (reference/wechatpay.md §3): an encrypted resource in a signed envelope,
// POSTed to the notify_url until it answers 2xx, on WeChat's retry schedule (15 s … 6 h, 24 h 4 m in
// all), compressed by `timeScale`. Faults: duplicates, reordering, a bad signature first, SIGNTEST
// probes; a receiver must verify, dedupe and tolerate all of them. A callback not yet acknowledged
// is journaled with its next attempt, so a restarted sandbox carries on retrying it.
// APIv2 pay-in notifications are XML (notifyXml), acknowledged only by an answer whose return_code is
// SUCCESS, on the same schedule and with the same faults (a bad sign first, duplicates, reordering).
// A notify_url is https (the create refuses anything else, as WeChat does), but the sandbox delivers
// over plain HTTP to the same host and port: a stand-in for the TLS terminator in front of the
// merchant's service, which the local stack does not run.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { parseV2Xml } from '../wechat/v2-protocol.js';
import { encryptResource } from '../wechat/v3-crypto.js';
import type { Journal } from './journal.js';
import type { Faults } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';
import { signedHeaders, type SandboxKeys } from './v3-auth.js';

export const RETRY_SCHEDULE_S = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600,
];

/** A v2 notification that must not be accepted: its sign altered, or (a refund's, unsigned) its req_info. */
const corruptXml = (xml: string) =>
  xml.replace(
    /<(sign|req_info)><!\[CDATA\[(.)/,
    (_m, tag: string, c: string) => `<${tag}><![CDATA[${c === 'A' ? 'B' : 'A'}`,
  );

/** A callback owed: where, what, and which attempt is next; `xml`: an APIv2 notification. */
interface Owed {
  url: string;
  body: string;
  attempt: number;
  xml?: boolean;
}

export function createNotifier(
  config: { apiV3Key: string; timeScale: number },
  deps: { keys: SandboxKeys; faults: Faults; journal: Journal; timers: Timers; log: Logger; now(): number },
) {
  const later = deps.timers.later;
  const delivered = { acked: 0, attempts: 0 };
  const owed = deps.journal.records<Owed>('callback');

  async function post(url: string, body: string, corrupt: 'none' | 'bad' | 'signtest', xml = false): Promise<boolean> {
    delivered.attempts++;
    try {
      if (xml) {
        const sent = corrupt === 'bad' ? corruptXml(body) : body;
        const res = await fetch(url.replace(/^https:/, 'http:'), {
          method: 'POST',
          headers: { 'content-type': 'text/xml; charset=utf-8' },
          body: sent,
          signal: AbortSignal.timeout(5_000),
        });
        return res.status === 200 && parseV2Xml(await res.text())?.return_code === 'SUCCESS';
      }
      const headers = signedHeaders(deps.keys, undefined, body, Math.floor(deps.now() / 1000));
      if (corrupt === 'bad')
        headers['wechatpay-signature'] = Buffer.from(`forged-${headers['wechatpay-signature']}`).toString('base64');
      if (corrupt === 'signtest')
        headers['wechatpay-signature'] = `WECHATPAY/SIGNTEST/${headers['wechatpay-signature']!.slice(0, 32)}`;
      const res = await fetch(url.replace(/^https:/, 'http:'), {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5_000),
      });
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  /** Attempt `attempt` of callback `id`; a duplicate (a fault) has no id and is not journaled. */
  function deliver(id: string | undefined, owedNow: Omit<Owed, 'attempt'>, attempt: number, badFirst: boolean) {
    const { url, body, xml } = owedNow;
    void post(url, body, badFirst ? 'bad' : 'none', xml).then((acked) => {
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
      if (id) owed.save(id, { ...owedNow, attempt: attempt + 1 });
      later(wait * 1000 * config.timeScale, () => deliver(id, owedNow, attempt + 1, false));
    });
  }

  /** Journals callback `body` as owed, then sends it with the faults asked for. */
  function send(id: string, url: string, body: string, xml: boolean) {
    const first: Omit<Owed, 'attempt'> = xml ? { url, body, xml } : { url, body };
    owed.save(id, { ...first, attempt: 0 });
    const badFirst = deps.faults.badCallbackSignature > 0 && deps.faults.badCallbackSignature-- > 0;
    const delayMs = deps.faults.reorderCallbacks ? 50 + Math.floor(Math.random() * 200) : 0;
    if (deps.faults.signtestProbe && !xml) void post(url, body, 'signtest');
    later(delayMs, () => deliver(id, first, 0, badFirst));
    if (deps.faults.duplicateCallbacks) later(delayMs + 10, () => deliver(undefined, first, 0, false));
  }

  // Owed before a restart: the next attempt goes now.
  for (const [id, { attempt, ...rest }] of owed.records) later(0, () => deliver(id, rest, attempt, false));

  return {
    delivered,
    /** Sends one callback: `resource` is encrypted with the APIv3 key under `originalType`. */
    notify(url: string | undefined, eventType: string, summary: string, originalType: string, resource: unknown) {
      if (!url) return;
      const id = randomUUID();
      send(
        id,
        url,
        JSON.stringify({
          id,
          create_time: chinaTime(deps.now()),
          event_type: eventType,
          resource_type: 'encrypt-resource',
          summary,
          resource: encryptResource(config.apiV3Key, JSON.stringify(resource), originalType, originalType),
        }),
        false,
      );
    },
    /** Sends one APIv2 notification (XML, signed or encrypted by the caller) until it is answered return_code SUCCESS. */
    notifyXml(url: string | undefined, xml: string) {
      if (url) send(randomUUID(), url, xml, true);
    },
  };
}
export type Notifier = ReturnType<typeof createNotifier>;
