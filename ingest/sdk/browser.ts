// The SDK in a web page (built to dist/sdk/ads.mjs and, for a script tag, dist/sdk/ads.js, global
// `AdsSdk`). It captures the ad events of CONTRACTS §1, measures viewability the MRC way (50 % of
// the ad's pixels in view for 1 continuous second, 2 for video, while the page is visible), and
// delivers through the persistent queue (queue.ts) kept in IndexedDB, flushing with keepalive when
// the page is hidden or goes away, and again when the browser comes back online.
//
// The key ships with the page, so anyone can sign beacons with it: money never rests on a beacon,
// only on the server-side confirmations of CONTRACTS §7 (ingest/README.md "Browsers (CORS)").
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import {
  answerOf,
  createBeaconClient,
  EventType,
  SDK_VERSION,
  uuid,
  type Answer,
  type BeaconClientConfig,
  type SendResult,
} from './client.js';
import { createQueue, memoryStorage, type QueueConfig, type QueueStorage } from './queue.js';

export { EventType, SDK_VERSION };

export interface Ad {
  campaignId: string;
  creativeId: string;
  placementId: string;
}
export interface AdsConfig extends Omit<BeaconClientConfig, 'maxAttempts' | 'sdk'>, QueueConfig {
  /** The person the app knows (setUser changes it); events need one, so until then they wait unsent. */
  userId?: string;
  /** 'memory' keeps nothing across a reload (default: IndexedDB where the browser has it). */
  storage?: 'indexeddb' | 'memory';
  /** 'websocket': batches go as frames on one /v1/stream connection (a long-lived page); default POSTs. */
  transport?: 'http' | 'websocket';
  /** Told of events the queue gave up on, with the reason. */
  onDrop?: (events: BeaconEvent[], reason: string) => void;
  /** Told of each batch the collector took, with its answer. */
  onSend?: (events: BeaconEvent[], result: SendResult) => void;
}

/** One object store of events keyed by event_id, so two tabs never overwrite each other's. */
export function indexedDbStorage(name: string): QueueStorage {
  const db = new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('events', { keyPath: 'eventId' });
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const run = async (mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest | void) => {
    const tx = (await db).transaction('events', mode);
    const req = work(tx.objectStore('events'));
    return new Promise<unknown>((resolve, reject) => {
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  };
  return {
    all: async () => {
      const events = (await run('readonly', (s) => s.getAll())) as BeaconEvent[];
      return events.sort((a, b) => Number(a.occurredAt) - Number(b.occurredAt));
    },
    add: (events) => run('readwrite', (s) => void events.forEach((e) => s.put(e))).then(() => {}),
    remove: (ids) => run('readwrite', (s) => void ids.forEach((id) => s.delete(id))).then(() => {}),
  };
}

/**
 * The /v1/stream WebSocket as a transport: one connection, opened at the first send, a SignedBatch
 * per frame, and the collector's ack for each matched by seq (counted from 0 on each connection).
 * A connection that closes, does not open within `timeoutMs`, or leaves an ack that long late is
 * given up at once: the frames waiting on it fail (the queue sends them again; the pipeline counts
 * an event id once), and the next send opens a new connection.
 */
export function webSocketStream(url: string, timeoutMs = 30_000) {
  type Waiting = { resolve(a: Answer): void; reject(e: Error): void };
  type Socket = { ws: WebSocket; opened: Promise<void>; sent: number; waiting: Map<number, Waiting> };
  let socket: Socket | undefined;

  function fail(s: Socket, reason: string) {
    if (socket === s) socket = undefined;
    for (const w of s.waiting.values()) w.reject(new Error(reason));
    s.waiting.clear();
    s.ws.close();
  }
  function open(): Socket {
    const ws = new WebSocket(url);
    const s: Socket = { ws, sent: 0, waiting: new Map(), opened: Promise.resolve() };
    s.opened = new Promise((resolve, reject) => {
      const late = setTimeout(() => (reject(new Error('the stream did not open')), fail(s, 'not opened')), timeoutMs);
      ws.onopen = () => (clearTimeout(late), resolve());
      ws.onerror = () => (clearTimeout(late), reject(new Error('the stream could not connect')));
    });
    ws.onmessage = (m) => {
      let ack: { seq?: unknown; status?: unknown; retry_after?: unknown } | null;
      try {
        ack = JSON.parse(String(m.data)) as typeof ack;
      } catch {
        ack = null;
      }
      const waiting = s.waiting.get(ack?.seq as number);
      if (!ack || !waiting) return fail(s, 'an ack the SDK cannot read'); // the frames' fates are unknown
      s.waiting.delete(ack.seq as number);
      waiting.resolve(answerOf(ack.status, ack, ack.retry_after));
    };
    ws.onclose = () => fail(s, 'the stream closed');
    return s;
  }
  return async (frame: Uint8Array): Promise<Answer> => {
    const s = (socket ??= open());
    await s.opened;
    if (socket !== s) throw new Error('the stream closed');
    const seq = s.sent++;
    return new Promise<Answer>((resolve, reject) => {
      const late = setTimeout(() => fail(s, 'no ack in time'), timeoutMs);
      s.waiting.set(seq, {
        resolve: (a) => (clearTimeout(late), resolve(a)),
        reject: (e) => (clearTimeout(late), reject(e)),
      });
      s.ws.send(frame as Uint8Array<ArrayBuffer>);
    });
  };
}

/** This browser's id for the app: random once, then kept (localStorage), so it never changes across visits. */
function deviceIdOf(appId: string): string {
  const key = `ads-sdk:device:${appId}`;
  try {
    const known = localStorage.getItem(key);
    if (known) return known;
    const id = uuid();
    localStorage.setItem(key, id);
    return id;
  } catch {
    return uuid(); // storage blocked: an id for this page only
  }
}

export function createAds(config: AdsConfig) {
  const stream =
    config.transport === 'websocket' &&
    webSocketStream(`${config.endpoint.replace(/^http/, 'ws')}/v1/stream`, config.timeoutMs);
  const client = createBeaconClient({ ...config, sdk: `web/${SDK_VERSION}`, maxAttempts: 1 }, stream ? { stream } : {});
  const durable = config.storage !== 'memory' && typeof indexedDB !== 'undefined';
  const queue = createQueue(config, {
    send: client.send,
    storage: durable ? indexedDbStorage(`ads-sdk:${config.appId}`) : memoryStorage(),
    ...(config.onDrop && { onDrop: config.onDrop }),
    ...(config.onSend && { onSend: config.onSend }),
  });
  const deviceId = deviceIdOf(config.appId);
  let userId = config.userId ?? '';
  const waiting: BeaconEvent[] = []; // tracked before there was a user: in memory, at most maxQueued
  const maxWaiting = config.maxQueued ?? 1_000;

  type Extra = { attrs?: Record<string, string>; clickId?: string; valueMicros?: number; currency?: string };
  function track(type: EventType, ad: Ad, extra: Extra = {}): string {
    const { campaignId, creativeId, placementId } = ad;
    const event = client.event({ ...extra, type, userId, deviceId, campaignId, creativeId, placementId });
    if (userId) void queue.push(event);
    else if (waiting.push(event) > maxWaiting) config.onDrop?.(waiting.splice(0, 1), 'queue_full');
    return event.eventId!;
  }

  const leave = () => queue.leave();
  const hidden = () => document.visibilityState === 'hidden' && leave();
  const online = () => void queue.flush();
  addEventListener('visibilitychange', hidden);
  addEventListener('pagehide', leave);
  addEventListener('online', online);
  const measuring = new Set<() => void>(); // each impression's stop

  return {
    deviceId,
    /** Sets the person events belong to; events tracked before any was set go out as theirs. */
    setUser(id: string) {
      userId = id;
      for (const e of waiting.splice(0)) void queue.push({ ...e, userId: id });
    },
    /** An event of any type; returns its event_id. Throws a TypeError for a field it cannot encode (`valueMicros: 2.5`). */
    track,
    /**
     * The ad in `el` was rendered: IMPRESSION now, then VIEWABLE once at least half of it has been
     * in view for a continuous second (two for `video`) while the page was visible. `stop()` ends
     * the measurement (the ad went away).
     */
    impression(el: Element, ad: Ad, opts: { video?: boolean } = {}) {
      const impressionId = track(EventType.IMPRESSION, ad);
      const needMs = opts.video ? 2_000 : 1_000;
      let inView = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = () => {
        const counting = inView && document.visibilityState === 'visible';
        if (counting && !timer) timer = setTimeout(viewed, needMs);
        if (!counting && timer) timer = void clearTimeout(timer);
      };
      const observer = new IntersectionObserver(
        (entries) => {
          const e = entries[entries.length - 1]!;
          const area = e.boundingClientRect.width * e.boundingClientRect.height; // an empty slot is never viewable
          inView = area > 0 && e.intersectionRatio >= 0.5;
          check();
        },
        { threshold: [0, 0.5, 1] },
      );
      const stop = () => {
        measuring.delete(stop);
        observer.disconnect();
        removeEventListener('visibilitychange', check);
        if (timer) clearTimeout(timer);
      };
      function viewed() {
        stop();
        track(EventType.VIEWABLE, ad, { attrs: { impression_id: impressionId } });
      }
      observer.observe(el);
      addEventListener('visibilitychange', check);
      measuring.add(stop);
      return { impressionId, stop };
    },
    /** A click on the ad; its event_id is the click_id a conversion may name. */
    click: (ad: Ad) => track(EventType.CLICK, ad),
    /** The person finished a rewarded ad (paid only once the ad network confirms it, CONTRACTS §7). */
    rewardComplete: (ad: Ad) => track(EventType.REWARD_COMPLETE, ad),
    conversion: (ad: Ad, c: { clickId?: string; valueMicros?: number; currency?: string } = {}) =>
      track(EventType.CONVERSION, ad, c),
    /** Sends what waits now, whatever the backoff. */
    flush: () => queue.flush(),
    /** Stops measuring, listening and sending; what waits stays stored for the app's next page. */
    stop() {
      for (const end of [...measuring]) end();
      removeEventListener('visibilitychange', hidden);
      removeEventListener('pagehide', leave);
      removeEventListener('online', online);
      queue.close();
    },
    /** Events waiting to be taken by the collector. */
    get pending() {
      return queue.size + waiting.length;
    },
  };
}
export type Ads = ReturnType<typeof createAds>;
