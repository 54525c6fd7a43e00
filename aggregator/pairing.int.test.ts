// The pairing script (lua/pair.lua) in the real Redis: which record emits which pair, in every order,
// under redelivery, duplicates and click-named postbacks; and what the pairs become.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import { deleteRedisPrefix, env, uniqueName } from '../test/support.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import { confirmationOffer, decided, eventOffer, type Offer } from './pairing.js';
import type { InEvent } from './records.js';
import type { VerificationRow } from './rows.js';
import { createRedisState } from './state-redis.js';

const redis = new Redis(env.REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deleteRedisPrefix(p);
  await redis.quit();
});

const T0 = Date.now();
const MIN = 60_000;
const WINDOW = 60 * MIN;
const MARGIN = 10 * MIN;

/** A world of named records: X a completion, Y a conversion attributed to click L; their confirmations. */
function world(claimTtlMs = 60_000) {
  const prefix = `${uniqueName('pair')}:`;
  prefixes.push(prefix);
  const state = createRedisState({ prefix, claimTtlMs }, { redis });
  const ids = { X: randomUUID(), Y: randomUUID(), Y2: randomUUID(), Yi: randomUUID(), Yo: randomUUID(), L: randomUUID() };
  const event = (name: string, id: string, type: EventType, d: Decision, offset: number, over: Partial<InEvent> = {}): [string, Offer] => {
    const e = { id, type, appId: 'app', userId: 'u1', deviceId: 'd1', campaignId: 'c1', time: T0, receivedAt: T0, position: `beacons:0:${offset}:1`, ...over } as InEvent;
    return [name, eventOffer(e, d, WINDOW, MARGIN)!];
  };
  const sent = new Map<string, InConfirmation>();
  const confirmation = (name: string, over: Partial<InConfirmation>, offset: number): [string, Offer] => {
    const c = {
      source: 'admob', transactionId: name, appId: 'app', userId: 'u1', campaignId: 'c1', eventId: ids.X, clickId: '', receivedAt: T0 + MIN,
      position: `confirmations:0:${offset}:0`, ...over,
    } as InConfirmation;
    sent.set(name, c);
    return [name, confirmationOffer(c, WINDOW, MARGIN)];
  };
  const postback = { source: 'postback', campaignId: 'c1' };
  const byClick = { ...postback, eventId: '', clickId: ids.L };
  const offers = new Map<string, Offer>([
    event('X', ids.X, EventType.REWARD_COMPLETE, { invalidReason: '', earns: true, attribution: { to: 'imp', model: 'view', lagMs: 1 } }, 10),
    event('Y', ids.Y, EventType.CONVERSION, { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 60_000 } }, 11),
    event('Y2', ids.Y2, EventType.CONVERSION, { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 90_000 } }, 12),
    // On click L too: Yi 5 s after it (click injection), Yo by another user on the click's device.
    event('Yi', ids.Yi, EventType.CONVERSION, { invalidReason: 'click_injection', earns: false, attribution: { to: ids.L, model: 'click', lagMs: 5_000 } }, 13),
    event('Yo', ids.Yo, EventType.CONVERSION, { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 60_000, otherUser: true } }, 14, { userId: 'u2' }),
    confirmation('K1', {}, 20),
    confirmation('K2', {}, 21),
    confirmation('K3', { eventId: ids.Y }, 25),
    confirmation('P1', { ...postback, eventId: ids.Y }, 22),
    confirmation('P2', { ...postback, eventId: '', clickId: ids.L }, 23),
    confirmation('P3', { ...postback, eventId: '', clickId: ids.L }, 24),
    // Verified confirmations of another app naming the same event or click (its network or advertiser can name anything).
    confirmation('KA', { appId: 'other.app' }, 26),
    confirmation('PA', { ...byClick, appId: 'other.app' }, 27),
  ]);
  const names = new Map<string, string>(Object.entries(ids).map(([k, v]) => [v, k]));
  /** Offers one batch; each emission as "<kind> <event> <confirmation> by <offering record> -> <reason>". */
  async function step(batch: string[]): Promise<string[]> {
    const list = batch.map((n) => offers.get(n)!);
    const emissions = await state.pair(list);
    return emissions.map((em) => {
      const { verification, earning } = decided(em);
      const reason = verification.reason === '' ? 'earns' : verification.reason;
      expect(!!earning).toBe(reason === 'earns');
      return `${em.kind} ${names.get(verification.event_id) ?? '-'} ${verification.transaction_id} by ${batch[em.offer]} -> ${reason}`;
    });
  }
  /** Offers one batch; the verification row of each emission, by the confirmation's name. */
  async function rows(batch: string[]): Promise<[string, VerificationRow][]> {
    const emissions = await state.pair(batch.map((n) => offers.get(n)!));
    return emissions.map((em) => decided(em).verification).map((row) => [row.transaction_id, row]);
  }
  return { step, rows, sent, prefix, ids };
}

describe('pairing', () => {
  it.each<[string, [string[], string[]][]]>([
    ['event first, then its confirmation: the confirmation emits the pair, and only its redelivery emits it again', [
      [['X'], []],
      [['K1'], ['pair X K1 by K1 -> earns']],
      [['X'], []], // the event redelivered
      [['K1'], ['pair X K1 by K1 -> earns']], // the confirmation redelivered
    ]],
    ['confirmation first, then the event: the event emits the pair, and only its redelivery emits it again', [
      [['K1'], []],
      [['X'], ['pair X K1 by X -> earns']],
      [['K1'], []],
      [['X'], ['pair X K1 by X -> earns']],
    ]],
    ['a second confirmation of a paired event: already confirmed, by its own record, every time', [
      [['X'], []],
      [['K1'], ['pair X K1 by K1 -> earns']],
      [['K2'], ['second X K2 by K2 -> already_confirmed']],
      [['K2'], ['second X K2 by K2 -> already_confirmed']],
    ]],
    ['two confirmations before the event: the first pairs, the second is already confirmed', [
      [['K1', 'K2'], ['second X K2 by K2 -> already_confirmed']], // it names X
      [['X'], ['pair X K1 by X -> earns']],
    ]],
    ['a postback naming the click before the conversion: parked, then paired by the conversion', [
      [['P2'], []],
      [['P2'], []], // redelivered while parked
      [['Y'], ['pair Y P2 by Y -> earns']],
      [['P2'], []], // redelivered after the hand-over: the conversion's record decided it
      [['Y'], ['pair Y P2 by Y -> earns']],
    ]],
    ['a postback naming the click after the conversion: paired by the postback', [
      [['Y'], []],
      [['P2'], ['pair Y P2 by P2 -> earns']],
      [['P2'], ['pair Y P2 by P2 -> earns']],
    ]],
    ['a postback by event id and one by click id for the same conversion: one pair, one already confirmed', [
      [['P1'], []],
      [['P2'], []],
      [['Y'], ['second - P2 by Y -> already_confirmed', 'pair Y P1 by Y -> earns']],
      [['Y'], ['second - P2 by Y -> already_confirmed', 'pair Y P1 by Y -> earns']],
    ]],
    ['the same, the click-named one first after the conversion', [
      [['Y'], []],
      [['P2'], ['pair Y P2 by P2 -> earns']],
      [['P1'], ['second Y P1 by P1 -> already_confirmed']],
    ]],
    ['two postbacks naming the same click before the conversion: one parked, the other already confirmed', [
      [['P2', 'P3'], ['second - P3 by P3 -> already_confirmed']],
      [['Y'], ['pair Y P2 by Y -> earns']],
    ]],
    ['an ad network confirming a conversion: a pair, that earns nothing (type_mismatch)', [
      [['Y'], []],
      [['K3'], ['pair Y K3 by K3 -> type_mismatch']],
    ]],
    ["another app's confirmation naming the event, after it: meets nothing, and the event's own confirmation earns", [
      [['X'], []],
      [['KA'], []],
      [['K1'], ['pair X K1 by K1 -> earns']],
    ]],
    ["another app's confirmation naming the event, before it: meets nothing, and the event's own confirmation earns", [
      [['KA'], []],
      [['X'], []],
      [['K1'], ['pair X K1 by K1 -> earns']],
    ]],
    ["another app's postback naming the click, after the conversion: meets nothing, and the conversion's own postback earns", [
      [['Y'], []],
      [['PA'], []],
      [['P2'], ['pair Y P2 by P2 -> earns']],
    ]],
    ["another app's postback naming the click, before the conversion: parked apart, and the conversion's own postback earns", [
      [['PA'], []],
      [['Y'], []],
      [['P2'], ['pair Y P2 by P2 -> earns']],
    ]],
    ['an invalid conversion first on the click keeps it: a later conversion on it cannot take the postback', [
      [['Yi'], []],
      [['Y'], []],
      [['P2'], ['pair Yi P2 by P2 -> click_injection']],
    ]],
    ['the same, the postback parked on the click first', [
      [['P2'], []],
      [['Yi'], ['pair Yi P2 by Yi -> click_injection']],
      [['Y'], []],
    ]],
    ["another user's conversion on the click's device leaves the click to its own user's conversion", [
      [['Yo'], []],
      [['Y'], []],
      [['P2'], ['pair Y P2 by P2 -> earns']],
    ]],
  ])('%s', async (_name, steps) => {
    const w = world();
    for (const [batch, expected] of steps) expect(await w.step(batch)).toEqual(expected);
  });

  // ClickHouse recognises a redelivered row only if it is the same row (warehouse-clickhouse.ts
  // withoutLanded: by source and transaction id, within its decided_at): every emission of a
  // confirmation's already_confirmed row must be that row, whichever record emits it and whatever the hash held then.
  it.each<[string, string, string[][]]>([
    ['before the event, then redelivered after it', 'K2', [['K1', 'K2'], ['X'], ['K2'], ['K2']]],
    ['parked on the click behind another, then redelivered after the conversion', 'P3', [['P2', 'P3'], ['Y'], ['P3']]],
    ['parked on the click, handed over by the conversion while a postback by event id holds it', 'P2', [['P1'], ['P2'], ['Y'], ['Y']]],
  ])('emits one and the same already_confirmed row for a second confirmation %s', async (_name, second, steps) => {
    const w = world();
    const emitted: VerificationRow[] = [];
    for (const batch of steps) for (const [name, row] of await w.rows(batch)) if (name === second) emitted.push(row);
    const k = w.sent.get(second)!;
    expect(emitted.length).toBeGreaterThan(1);
    for (const row of emitted) {
      expect(row).toEqual({
        event_id: k.eventId, event_type: '', source: k.source, transaction_id: second, app_id: k.appId, user_id: k.userId, campaign_id: k.campaignId,
        event_received_at_ms: 0, confirmed_at_ms: k.receivedAt, decided_at: Math.floor(k.receivedAt / 1000), reason: 'already_confirmed',
      });
    }
  });

  it('pays a click-named postback once: redelivered after the pair hashes expired, it never pairs with a later conversion on the click', async () => {
    const w = world(7 * 86_400_000);
    expect(await w.step(['Y'])).toEqual([]);
    expect(await w.step(['P2'])).toEqual(['pair Y P2 by P2 -> earns']);
    // Time passes beyond the window and the margin: what lives only that long expires.
    for (const key of await redis.keys(`${w.prefix}*`)) if (await redis.pttl(key) <= WINDOW + MARGIN) await redis.del(key);
    expect(await w.step(['Y2'])).toEqual([]); // a later conversion on the same click
    expect(await w.step(['P2'])).toEqual([]); // the postback redelivered (its claim says so): no second earning
  });

  it('keeps a hash for the verification window and the margin after its last offer, never shortening it', async () => {
    const w = world();
    await w.step(['X']);
    const key = `${w.prefix}v:e:app:${w.ids.X}`;
    expect(await redis.pttl(key)).toBeGreaterThan(WINDOW + MARGIN - 5_000);
    await redis.pexpire(key, 2 * (WINDOW + MARGIN));
    await w.step(['K1']);
    expect(await redis.pttl(key)).toBeGreaterThan(WINDOW + MARGIN + 5_000);
  });

  it('turns a pair that earns into one earning with the confirmation, keyed and identified by the event', async () => {
    const w = world();
    await w.step(['X']);
    const state = createRedisState({ prefix: w.prefix, claimTtlMs: 60_000 }, { redis });
    const [emission] = await state.pair([confirmationOffer({
      source: 'admob', transactionId: 'tx-9', appId: 'app', userId: 'u1', campaignId: 'c1', eventId: w.ids.X, clickId: '', receivedAt: T0 + 2 * MIN,
      position: 'confirmations:1:5:0',
    } as InConfirmation, WINDOW, MARGIN)]);
    const { verification, earning } = decided(emission!);
    expect(verification).toEqual({
      event_id: w.ids.X, event_type: 'REWARD_COMPLETE', source: 'admob', transaction_id: 'tx-9', app_id: 'app', user_id: 'u1', campaign_id: 'c1',
      event_received_at_ms: T0, confirmed_at_ms: T0 + 2 * MIN, decided_at: Math.floor((T0 + 2 * MIN) / 1000), reason: '',
    });
    expect(earning!.key).toBe('u1');
    expect({ ...pipeline.v1.VerifiedEarning.decode(earning!.value) }).toMatchObject({
      earningId: earningId(w.ids.X), sourceEventId: w.ids.X, appId: 'app', userId: 'u1', campaignId: 'c1', type: EventType.REWARD_COMPLETE,
      eventTime: T0, verifiedAt: T0 + 2 * MIN, deviceId: 'd1', receivedAt: T0, confirmation: 'admob:tx-9', confirmedAt: T0 + 2 * MIN,
    });
  });
});
