// The browser SDK as a person's browser runs it: Debian's Chromium (headless, driven by
// playwright-core) loads a page from one origin that posts to the real collector on another, with
// Kafka behind it. What the collector took is read back from the topic.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dist } from '../../common/root.js';
import { beacon } from '../../schemas/gen/messages.js';
import { keySql } from '../keys-pg.js';
import { readTopic, startTestCollector } from '../test-support.js';

// An empty ad slot at the top; an ad 250 px high, 3,000 px down a page whose window is 600 px high.
const page = `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<div id="empty" style="width:300px;height:0"></div><div style="height:3000px"></div><div id="ad" style="width:300px;height:250px;background:#fc0"></div>
<div style="height:3000px"></div>
<script src="/ads.js"></script>
<script>window.ads = AdsSdk.createAds(JSON.parse(new URLSearchParams(location.search).get('config')));</script>
</body></html>`;
const AD = { campaignId: 'camp', creativeId: 'cr', placementId: 'pl' };

let c: Awaited<ReturnType<typeof startTestCollector>>;
let server: Server;
let stranger: Server;
let origin: string;
/** The same page on a host name over plain http: not a secure context, as many publishers' pages are not. */
let plainOrigin: string;
/** The collector as the pages reach it, through a proxy the test can cut (`reachable`), keepalive requests included. */
let proxy: TcpServer;
let endpoint: string;
let reachable = true;
let browser: Browser;
let context: BrowserContext;
/** Every event id the collector answered 202 for, once per request that carried it, and its type. */
let delivered: string[];
let types: string[];

beforeAll(async () => {
  c = await startTestCollector();
  const sdk = readFileSync(join(dist, 'sdk/ads.js'));
  const serve = async () => {
    const s = createServer((req, res) => {
      if (req.url === '/ads.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return [s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`] as const;
  };
  [server, origin] = await serve();
  [stranger] = await serve(); // an origin no app registered
  proxy = createTcpServer((socket) => {
    if (!reachable) return void socket.destroy();
    const upstream = connect(c.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  plainOrigin = origin.replace('127.0.0.1', 'shop.test');
  await c.query(keySql['add-origin'], ['test.app', origin]);
  await c.query(keySql['add-origin'], ['test.app', plainOrigin]);
  await sleep(1_000); // the collector's key cache reloads on NOTIFY
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // This machine's network is closed: Chromium's own calls home only fail, many at a time.
    args: [
      ...['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-sync'],
      '--host-resolver-rules=MAP shop.test 127.0.0.1',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  server?.close();
  stranger?.close();
  proxy?.close();
  await c?.stop();
});
beforeEach(async () => {
  await context?.close();
  context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  delivered = [];
  types = [];
  reachable = true;
});

/** The page with the SDK configured by `over`; what the collector took is recorded in `delivered`. */
async function open(over: Record<string, unknown> = {}, into?: Page, from = origin): Promise<Page> {
  const p = into ?? (await context.newPage());
  if (!into)
    p.on('response', async (res) => {
      if (!res.url().endsWith('/v1/beacons') || res.request().method() !== 'POST' || res.status() !== 202) return;
      for (const e of beacon.v1.BeaconBatch.decode(res.request().postDataBuffer()!).events) {
        delivered.push(e.eventId!);
        types.push(beacon.v1.EventType[e.type!]);
      }
    });
  const config = { endpoint, appId: 'test.app', ...c.key, userId: 'reader', flushAt: 1, ...over };
  await p.goto(`${from}/?config=${encodeURIComponent(JSON.stringify(config))}`);
  return p;
}
/** The events of `ids` on the topic: each exactly once, with its type. */
async function onTopic(ids: string[]) {
  const records = await readTopic(c.kafka, c.topic, (seen) => ids.every((id) => seen.includes(id)));
  const events = records.flatMap((r) => r.value.events.map((e) => e.event!)).filter((e) => ids.includes(e.eventId!));
  return events;
}
/** Runs `expr` in the page, with AD defined; the page's SDK is `ads`. */
const run = <T>(p: Page, expr: string) =>
  p.evaluate<T>(`(() => { const AD = ${JSON.stringify(AD)}; return ${expr}; })()`);
const count = (ids: string[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
async function until(what: string, done: () => boolean | Promise<boolean>, ms = 10_000) {
  for (const end = Date.now() + ms; !(await done()); await sleep(50))
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`);
}

describe('the browser SDK in Chromium, against the real collector', () => {
  it("posts from an app's registered origin (its preflight passes), and from no other", async () => {
    const p = await open();
    const id = await run<string>(p, 'ads.click(AD)');
    await until('the click', () => delivered.includes(id));
    expect((await onTopic([id])).map((e) => e.type)).toEqual([beacon.v1.EventType.CLICK]);

    const elsewhere = await open({}, undefined, `http://127.0.0.1:${(stranger.address() as AddressInfo).port}`);
    const failed: string[] = [];
    elsewhere.on('requestfailed', (r) => r.url().endsWith('/v1/beacons') && failed.push(r.failure()!.errorText));
    await run<string>(elsewhere, 'ads.click(AD)');
    await until('the refused post', () => failed.length > 0);
    expect([failed[0], await run<number>(elsewhere, 'ads.pending')]).toEqual(['net::ERR_FAILED', 1]); // kept, unsent
  });

  it('reports VIEWABLE only after 1 s with at least half the ad in view, and not for less', async () => {
    const p = await open();
    const scroll = (y: number) => run<number>(p, `(scrollTo(0, ${y}), Date.now())`);
    const { impressionId } = await run<{ impressionId: string }>(
      p,
      "{ impressionId: ads.impression(document.getElementById('ad'), AD).impressionId }",
    );
    await scroll(2_500); // 100 of 250 px in view: 40 %
    await sleep(1_500);
    await scroll(2_800); // all of it
    await sleep(600);
    await scroll(0); // gone before its second
    await sleep(1_500);
    expect(types).toEqual(['IMPRESSION']);
    const from = await scroll(2_550); // 150 of 250 px: 60 %
    await until('VIEWABLE', async () => delivered.length === 2);
    const events = await onTopic(delivered);
    expect(events.map((e) => beacon.v1.EventType[e.type!])).toEqual(['IMPRESSION', 'VIEWABLE']);
    expect(Number(events[1]!.occurredAt) - from).toBeGreaterThanOrEqual(1_000);
    expect(events[1]!.attrs).toEqual({ impression_id: impressionId });
  });

  it('works on a plain-http page (no secure context), and never calls an empty ad slot viewable', async () => {
    const p = await open({}, undefined, plainOrigin);
    expect(await run<boolean>(p, 'isSecureContext')).toBe(false); // crypto.randomUUID is missing here
    const ids = await run<string[]>(
      p,
      "[ads.impression(document.getElementById('empty'), AD).impressionId, ads.click(AD)]",
    );
    await until('the events', () => ids.every((id) => delivered.includes(id)));
    await sleep(1_500); // the empty slot has been "in view" for more than a second
    expect(types.sort()).toEqual(['CLICK', 'IMPRESSION']);
  });

  it('delivers once, after a reload, the events a page could not send', async () => {
    const p = await open();
    reachable = false;
    const ids = await run<string[]>(p, '[ads.click(AD), ads.rewardComplete(AD)]');
    await sleep(500); // tried, stored, not sent
    await open({}, p); // the reload (the leaving page's last flush fails too); the new page finds them stored
    reachable = true;
    await until('the stored events', () => ids.every((id) => delivered.includes(id)));
    await sleep(1_000);
    expect([...count(delivered).values()]).toEqual([1, 1]);
    expect((await onTopic(ids)).length).toBe(2);
  });

  it('sends what waits when the page closes', async () => {
    const p = await open({ flushAt: 100, flushIntervalMs: 60_000 });
    const ids = await run<string[]>(p, '[ads.click(AD), ads.click(AD), ads.click(AD)]');
    await p.close({ runBeforeUnload: true });
    expect((await onTopic(ids)).map((e) => e.eventId).sort()).toEqual([...ids].sort());
  });

  it('streams batches as frames on one WebSocket when asked to, without a POST', async () => {
    const p = await open({ transport: 'websocket' });
    const ids = await run<string[]>(p, '[ads.click(AD), ads.click(AD), ads.rewardComplete(AD)]');
    expect((await onTopic(ids)).map((e) => e.eventId).sort()).toEqual([...ids].sort());
    expect([delivered, await run<number>(p, 'ads.pending')]).toEqual([[], 0]);
  });

  it('delivers everything once when the browser goes offline, then online', async () => {
    const p = await open();
    await context.setOffline(true);
    const ids = await run<string[]>(p, 'Array.from({ length: 5 }, () => ads.click(AD))');
    await sleep(1_000);
    expect(delivered).toEqual([]);
    await context.setOffline(false);
    await until('the events', () => ids.every((id) => delivered.includes(id)));
    await sleep(1_000);
    expect([...count(delivered).values()]).toEqual([1, 1, 1, 1, 1]);
    expect((await onTopic(ids)).length).toBe(5);
  });
});
