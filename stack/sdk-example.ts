// `npm run sdk:example`: the browser SDK on a page with ads, against the running stack (`npm start`).
// It registers an app `example.web` with a fresh key and this page's origin, then serves the page
// on http://127.0.0.1:8094 (SDK_EXAMPLE_PORT): three ad slots down a long page, what the SDK sent,
// and what the pipeline then shows for this browser's device id (ads.events in ClickHouse, after
// the aggregator's deduplication). The key ships in the page, as it does on every site; it is
// revoked when the example stops.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import pg from 'pg';
import { z } from 'zod';
import { aggregatorConfig } from '../aggregator/config.js';
import { loadConfig, port } from '../common/config.js';
import { dist } from '../common/root.js';
import { ingestConfig } from '../ingest/config.js';
import { keySql } from '../ingest/keys-pg.js';

const env = { ...process.env, DEV_MODE: 'true' };
const ingest = loadConfig(ingestConfig, env);
const aggregator = loadConfig(aggregatorConfig, env);
const { SDK_EXAMPLE_PORT } = loadConfig(z.object({ SDK_EXAMPLE_PORT: port(8094) }), env);
const origin = `http://127.0.0.1:${SDK_EXAMPLE_PORT}`;

const APP = 'example.web';
const key = { keyId: `k_${randomBytes(8).toString('hex')}`, secret: randomBytes(32).toString('hex') };
const db = new pg.Client({ connectionString: ingest.DATABASE_URL });
await db.connect();
await db.query(keySql['create-key'], [APP, key.keyId, key.secret]);
await db.query(keySql['add-origin'], [APP, origin]);

const clickhouse = createClient({
  url: aggregator.CLICKHOUSE_URL,
  database: aggregator.CLICKHOUSE_DATABASE,
  log: { level: ClickHouseLogLevel.OFF },
});
/** This device's events as the analysts' table has them (18.16 has no query parameters: the id is checked). */
async function pipelineRows(device: string) {
  if (!/^[0-9a-f-]{36}$/.test(device)) return [];
  const rs = await clickhouse.query({
    query: `SELECT event_id, toString(type) AS type, campaign_id, placement_id, received_at
      FROM events WHERE app_id = '${APP}' AND device_id = '${device}' ORDER BY received_at_ms, event_id`,
    format: 'JSONEachRow',
  });
  return rs.json();
}

const config = {
  endpoint: `http://${ingest.INGEST_HOST}:${ingest.INGEST_PORT}`,
  appId: APP,
  ...key,
  userId: 'example-reader',
  flushIntervalMs: 2_000,
};
const slots = ['top', 'middle', 'bottom']
  .map(
    (placement, i) => `<div style="height:${i ? 900 : 200}px"></div>
<div class="ad" data-placement="${placement}">ad: campaign spring-sale, ${placement} slot (click me)</div>`,
  )
  .join('\n');
const page = `<!doctype html><html><head><meta charset="utf-8"><title>Ads SDK example</title><style>
body { font: 14px system-ui, sans-serif; margin: 0 0 0 420px; }
.ad { width: 300px; height: 250px; background: #fc0; display: grid; place-items: center; cursor: pointer; }
aside { position: fixed; left: 0; top: 0; bottom: 0; width: 400px; overflow: auto; padding: 8px; background: #f4f4f4; }
td { padding: 0 6px; } </style></head><body>
<aside><b>Sent by the SDK</b> (scroll an ad into view for a second: VIEWABLE)<table id="sent"></table>
<b>In the pipeline</b> (ads.events, after deduplication)<table id="seen"></table></aside>
${slots}
<div style="height:900px"></div>
<script src="/ads.js"></script>
<script>
function row(table, cells) {
  const tr = table.insertRow();
  for (const c of cells) tr.insertCell().textContent = c; // text, never markup: the values come from outside
}
const names = ['', 'IMPRESSION', 'VIEWABLE', 'CLICK', 'REWARD_COMPLETE', 'CONVERSION'];
const ads = AdsSdk.createAds(Object.assign(${JSON.stringify(config)}, {
  onSend: (events) => events.forEach((e) => row(sent, [names[e.type], e.placementId, e.eventId.slice(0, 8)])),
}));
for (const el of document.querySelectorAll('.ad')) {
  const ad = { campaignId: 'spring-sale', creativeId: 'banner-1', placementId: el.dataset.placement };
  ads.impression(el, ad);
  el.onclick = () => ads.click(ad);
}
setInterval(async () => {
  const rows = await (await fetch('/pipeline?device=' + ads.deviceId)).json();
  seen.innerHTML = '';
  rows.forEach((r) => row(seen, [r.type, r.placement_id, r.event_id.slice(0, 8), r.received_at]));
}, 2000);
</script></body></html>`;

const sdk = readFileSync(join(dist, 'sdk/ads.js'));
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', origin);
  if (url.pathname === '/ads.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
  if (url.pathname === '/pipeline')
    return void pipelineRows(url.searchParams.get('device') ?? '').then(
      (rows) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows)),
      (err: Error) => res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify(err.message)),
    );
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
});
server.listen(SDK_EXAMPLE_PORT, '127.0.0.1', () =>
  console.log(`the SDK example: open ${origin} (app ${APP}, key ${key.keyId}); Ctrl-C stops it`),
);
async function stop() {
  server.close();
  await db.query(keySql['revoke-key'], [key.keyId]);
  await Promise.all([db.end(), clickhouse.close()]);
  process.exit(0);
}
process.once('SIGINT', () => void stop()).once('SIGTERM', () => void stop());
