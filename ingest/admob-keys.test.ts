import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { createAdmobKeys, readKeysText } from './admob-keys.js';
import { ingestConfig } from './config.js';

const log = createLogger('t', 'silent');
const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
const pem = (k: typeof p256) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const good = JSON.stringify({ keys: [{ keyId: 1, pem: pem(p256), base64: '' }] });

describe('AdMob key list refreshes', () => {
  it.each([
    ['an empty list', '{"keys":[]}'],
    [
      'a list of keys this verifier cannot use (not P-256, unreadable)',
      JSON.stringify({
        keys: [
          { keyId: 2, pem: pem(k1) },
          { keyId: 3, base64: 'bm90IGEga2V5' },
        ],
      }),
    ],
  ])(
    "keep the keys held when the new list is %s (a failed load, as Google's verifier treats it)",
    async (_name, next) => {
      let list = good;
      let now = 0;
      const keys = createAdmobKeys(
        { refreshMs: 86_400_000, refetchMinMs: 60_000 },
        { load: async () => list, now: () => now, log },
      );
      await keys.started;
      list = next;
      now += 60_000;
      expect(await keys.get('9')).toEqual({ ok: false, why: 'unavailable' }); // the refresh this triggered failed
      expect(await keys.get('1')).toMatchObject({ ok: true });
      keys.stop();
    },
  );
});

describe('readKeysText', () => {
  let server: Server;
  let base = '';
  const dir = mkdtempSync(join(tmpdir(), 'admob-keys-test-'));
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length: only reading tells
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (sent < 64 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else if (req.url === '/declared-huge') {
        res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
        res.write('{');
      } else if (req.url === '/hang') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":');
      } else res.end(good);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a list over HTTP and from a file', async () => {
    writeFileSync(join(dir, 'ok.json'), good);
    expect(await readKeysText(`${base}/ok`, 2_000)).toBe(good);
    expect(await readKeysText(pathToFileURL(join(dir, 'ok.json')).href, 2_000)).toBe(good);
  });

  it.each([
    ['a body past 1 MiB without a length', '/huge', 'admob_keys_too_large'],
    ['a declared length past 1 MiB', '/declared-huge', 'admob_keys_too_large'],
    ['a body that never ends', '/hang', undefined],
  ])('refuses %s, without holding it', async (_name, path, code) => {
    const started = Date.now();
    const err = await readKeysText(`${base}${path}`, 1_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    if (code) expect(err).toMatchObject({ code });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a file past 1 MiB', async () => {
    writeFileSync(join(dir, 'big.json'), Buffer.alloc(2 * 1024 * 1024, 0x20));
    await expect(readKeysText(pathToFileURL(join(dir, 'big.json')).href, 1_000)).rejects.toMatchObject({
      code: 'admob_keys_too_large',
    });
  });
});

describe('INGEST_ADMOB_KEYS_URL', () => {
  const url = (v: string) => () => loadConfig(ingestConfig, { INGEST_ADMOB_KEYS_URL: v }).INGEST_ADMOB_KEYS_URL;
  it.each([
    'https://www.gstatic.com/admob/reward/verifier-keys.json',
    'file:///var/keys.json',
    'http://127.0.0.1:8093/keys.json',
    'http://localhost/k.json',
  ])('takes %s', (v) => {
    expect(url(v)()).toBe(v);
  });
  it('refuses plain http:// to another host: whoever is on the path could hand us keys that sign anything', () => {
    expect(url('http://www.gstatic.com/admob/reward/verifier-keys.json')).toThrow(/INGEST_ADMOB_KEYS_URL/);
  });
});
