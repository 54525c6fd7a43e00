// The ownership commands of `npm run apps` against a real (test) Postgres: who may own a campaign,
// a network secret, an ad unit, and what each command prints.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, silentLog } from '../test/support.js';
import { assignCampaign, createNetworkSecret, listS2s, registerAdUnit, revokeNetworkSecret } from './apps-s2s.js';
import { keySql } from './keys-pg.js';

let db: Awaited<ReturnType<typeof createTestPostgres>>;
let sql: pg.Client;
beforeAll(async () => {
  db = await createTestPostgres('apps');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  for (const app of ['app.a', 'app.b']) await sql.query(keySql['create-key'], [app, `k_${app}`, 'secret']);
});
afterAll(async () => {
  await sql?.end();
  await db?.drop();
});

const SECRET = /^[0-9a-f]{64}$/;

describe('apps campaign', () => {
  it('creates the campaign for the app with a new secret, and prints the same secret when asked again', async () => {
    const [id, secret] = (await assignCampaign(sql, 'c1', 'app.a')).split(' ');
    expect([id, SECRET.test(secret!)]).toEqual(['c1', true]);
    expect(await assignCampaign(sql, 'c1', 'app.a')).toBe(`c1 ${secret}`);
  });

  it('refuses a campaign another app owns, and leaves it as it was', async () => {
    const before = await assignCampaign(sql, 'c2', 'app.a');
    await expect(assignCampaign(sql, 'c2', 'app.b')).rejects.toThrow('campaign c2 belongs to app app.a');
    expect(await assignCampaign(sql, 'c2', 'app.a')).toBe(before);
  });

  it('assigns a pre-migration campaign (no app) and gives it a secret, keeping its settings', async () => {
    await sql.query('insert into campaigns (campaign_id, click_lookback_s) values ($1, 7200)', ['old']);
    expect(await assignCampaign(sql, 'old', 'app.b')).toMatch(/^old [0-9a-f]{64}$/);
    const { rows } = await sql.query('select app_id, click_lookback_s from campaigns where campaign_id = $1', ['old']);
    expect(rows).toEqual([{ app_id: 'app.b', click_lookback_s: 7200 }]);
  });

  it.each([
    ['an app that is not registered', 'c3', 'app.z', 'no app app.z'],
    ['an app id with a colon', 'c3', 'a:b', 'app_id must be'],
    ['a campaign id over 64 characters', 'c'.repeat(65), 'app.a', 'campaign_id must be'],
  ])('refuses %s', async (_name, campaign, app, message) => {
    await expect(assignCampaign(sql, campaign, app)).rejects.toThrow(message);
  });
});

describe('apps network and network-revoke', () => {
  it('issues a secret per call and revokes one by id', async () => {
    const [id, secret] = (await createNetworkSecret(sql, 'pangle', 'app.a')).split(' ');
    expect([/^\d+$/.test(id!), SECRET.test(secret!)]).toEqual([true, true]);
    expect(await revokeNetworkSecret(sql, id!)).toBe(`revoked ${id} (pangle, app app.a)`);
    await expect(revokeNetworkSecret(sql, '999999')).rejects.toThrow('no network secret 999999');
  });

  it.each([
    ["admob, which signs with Google's keys", 'admob', 'app.a', 'not admob'],
    ["postback, the source name of advertisers' postbacks", 'postback', 'app.a', 'not admob or postback'],
    ['a network name with capitals', 'Pangle', 'app.a', 'network must be'],
    ['an app that is not registered', 'pangle', 'app.z', 'no app app.z'],
  ])('refuses %s', async (_name, network, app, message) => {
    await expect(createNetworkSecret(sql, network, app)).rejects.toThrow(message);
  });
});

describe('apps ad-unit', () => {
  it('registers a unit to an app and one of its campaigns, again with another of its campaigns, and refuses it to another app', async () => {
    expect(await registerAdUnit(sql, 'pangle', 'p/1', 'app.a', 'c1')).toBe('pangle p/1 app.a c1');
    expect(await registerAdUnit(sql, 'pangle', 'p/1', 'app.a', 'c2')).toBe('pangle p/1 app.a c2');
    await expect(registerAdUnit(sql, 'pangle', 'p/1', 'app.b', 'old')).rejects.toThrow('belongs to app app.a');
    const { rows } = await sql.query(
      "select app_id, campaign_id from ad_units where network = 'pangle' and ad_unit = 'p/1'",
    );
    expect(rows).toEqual([{ app_id: 'app.a', campaign_id: 'c2' }]);
  });

  it('registers an AdMob unit by the number its callbacks carry, so either spelling names one unit', async () => {
    expect(await registerAdUnit(sql, 'admob', 'ca-app-pub-1/1', 'app.a', 'c1')).toBe('admob 1 app.a c1');
    expect(await registerAdUnit(sql, 'admob', '1', 'app.a', 'c1')).toBe('admob 1 app.a c1');
    await expect(registerAdUnit(sql, 'admob', '1', 'app.b', 'old')).rejects.toThrow('belongs to app app.a');
    await expect(registerAdUnit(sql, 'admob', 'ca-app-pub-2/1', 'app.b', 'old')).rejects.toThrow(
      'belongs to app app.a',
    );
  });

  it.each([
    ['a campaign of another app', 'old', 'campaign old belongs to app app.b, not to app app.a'],
    ['a campaign that does not exist', 'nope', 'no campaign nope'],
    ['a campaign of no app', 'unowned', 'campaign unowned belongs to no app'],
  ])('refuses %s, and registers nothing', async (_name, campaign, message) => {
    await sql.query("insert into campaigns (campaign_id) values ('unowned') on conflict do nothing");
    await expect(registerAdUnit(sql, 'admob', '5', 'app.a', campaign)).rejects.toThrow(message);
    expect((await sql.query("select 1 from ad_units where ad_unit = '5'")).rows).toEqual([]);
  });

  it('keeps a unit and its campaign in one app in the database itself, past the command', async () => {
    await expect(
      sql.query("insert into ad_units (network, ad_unit, app_id, campaign_id) values ('admob', '6', 'app.a', 'old')"),
    ).rejects.toMatchObject({ constraint: 'ad_units_campaign_of_app' });
    await expect(sql.query("update campaigns set app_id = 'app.b' where campaign_id = 'c1'")).rejects.toMatchObject({
      constraint: 'ad_units_campaign_of_app',
    });
  });

  it('lists campaigns, network secrets (without the secret) and ad units with their campaigns', async () => {
    await sql.query("insert into ad_units (network, ad_unit, app_id) values ('admob', '7', 'app.a')"); // registered before migration 0011
    const lines = await listS2s(sql);
    expect(lines).toContain('campaign\tc1\tapp.a\tpostback secret set');
    expect(lines).toContain('ad_unit\tadmob\t1\tapp.a\tc1');
    expect(lines).toContain('ad_unit\tadmob\t7\tapp.a\t(no campaign: callbacks refused)');
    expect(lines.some((l) => /^network\tpangle\tapp\.a\t\d+\trevoked /.test(l))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe('npm run apps', () => {
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'apps-main.ts'), ...args], {
      env: { ...process.env, DATABASE_URL: db.url },
    });

  it('prints "<campaign_id> <postback_secret>" and exits 0; exits 1 with a reason when refused', async () => {
    const { stdout } = await run('campaign', 'cli-camp', 'app.a');
    expect(stdout).toMatch(/^cli-camp [0-9a-f]{64}\n$/);
    await expect(run('campaign', 'cli-camp', 'app.b')).rejects.toMatchObject({
      code: 1,
      stderr: 'apps: campaign cli-camp belongs to app app.a\n',
    });
  });

  it("registers an app's web origins as a browser sends them, lists them, revokes one, and refuses what is not one", async () => {
    expect((await run('origin', 'app.a', 'HTTPS://Shop.Example:443/')).stdout).toBe(
      'origin app.a https://shop.example\n',
    );
    expect((await run('origin', 'app.a', 'https://shop.example')).stdout).toBe('origin app.a https://shop.example\n');
    expect((await run('origin', 'app.b', 'http://127.0.0.1:8000')).stdout).toBe('origin app.b http://127.0.0.1:8000\n');
    for (const [args, stderr] of [
      [['app.a', 'https://shop.example/page'], 'apps: https://shop.example/page is not an origin'],
      [['app.a', 'https://*.example'], 'apps: https://*.example is not an origin'],
      [['no.app', 'https://shop.example'], 'apps: no app no.app\n'],
    ] as const)
      await expect(run('origin', ...args)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(stderr) });
    expect((await run('list')).stdout).toContain(
      'origin app.a https://shop.example\norigin app.b http://127.0.0.1:8000\n',
    );
    expect((await run('origin-revoke', 'app.a', 'https://shop.example')).stdout).toBe(
      'revoked origin app.a https://shop.example\n',
    );
    await expect(run('origin-revoke', 'app.a', 'https://shop.example')).rejects.toMatchObject({ code: 1 });
    await expect(
      sql.query("insert into app_origins (app_id, origin) values ('app.a', 'https://shop.example/x')"),
    ).rejects.toMatchObject({ code: '23514' }); // the database checks the form too
  });

  it('registers an ad unit with its campaign; without one, prints the usage and exits 2', async () => {
    expect((await run('ad-unit', 'admob', 'ca-app-pub-3/33', 'app.a', 'cli-camp')).stdout).toBe(
      'admob 33 app.a cli-camp\n',
    );
    await expect(run('ad-unit', 'admob', '34', 'app.a')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('ad-unit <network> <ad_unit> <app_id> <campaign_id>'),
    });
  });
});
