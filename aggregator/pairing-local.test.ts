// The pairing over a partition's hashes (pairing-local.ts), on an in-memory view with a clock: which
// record emits which pair, in every order, under redelivery, duplicates, click-named postbacks, other
// users and apps, and expiry; then, for random interleavings, that every event pairs once.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import { pairKeys, pairOffers, type PairView } from './pairing-local.js';
import { confirmationOffer, decided, eventOffer, type Emission, type Offer } from './pairing.js';
import type { InEvent } from './records.js';

const T0 = Date.UTC(2026, 10, 1, 12);
const MIN = 60_000;
const WINDOW = 60 * MIN;
const MARGIN = 10 * MIN;
const DAY = 86_400_000;

/** Hashes by store key, as JSON (no shared objects), each with its expiry; an expired one is gone, and a set keeps the later expiry. */
function memoryView(clock: { now: number }) {
  const store = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const held = store.get(key);
    return held && held.expiresAt > clock.now ? held : undefined;
  };
  const get = <T>(key: string) => {
    const held = live(key);
    return held ? (JSON.parse(held.value) as T) : undefined;
  };
  const set = (key: string, value: object, ttlMs: number) =>
    store.set(key, { value: JSON.stringify(value), expiresAt: Math.max(live(key)?.expiresAt ?? 0, clock.now + ttlMs) });
  const view: PairView = {
    event: (app, user, id) => get(pairKeys.event(app, user, id)),
    click: (app, user, id) => get(pairKeys.click(app, user, id)),
    setEvent: (app, user, id, hash, ttlMs) => set(pairKeys.event(app, user, id), hash, ttlMs),
    setClick: (app, user, id, index, ttlMs) => set(pairKeys.click(app, user, id), index, ttlMs),
  };
  return { view, expiresAt: (key: string) => live(key)?.expiresAt };
}

/** A world of named records: X a completion, Y a conversion attributed to click L; their confirmations. */
function world(clickTtlMs = 60_000) {
  const clock = { now: T0 };
  const { view, expiresAt } = memoryView(clock);
  const ids = {
    X: randomUUID(),
    Y: randomUUID(),
    Y2: randomUUID(),
    Yi: randomUUID(),
    Yo: randomUUID(),
    L: randomUUID(),
  };
  const event = (
    name: string,
    id: string,
    type: EventType,
    d: Decision,
    offset: number,
    over: Partial<InEvent> = {},
  ): [string, Offer] => {
    const e = {
      id,
      type,
      appId: 'app',
      userId: 'u1',
      deviceId: 'd1',
      campaignId: 'c1',
      time: T0,
      receivedAt: T0,
      position: `beacons:0:${offset}:1`,
      ...over,
    } as InEvent;
    return [name, eventOffer(e, d, WINDOW, MARGIN)!];
  };
  const confirmation = (
    name: string,
    over: Partial<InConfirmation>,
    offset: number,
    windowMs = WINDOW,
  ): [string, Offer] => {
    const c = {
      source: 'admob',
      transactionId: name,
      appId: 'app',
      userId: 'u1',
      campaignId: 'c1',
      eventId: ids.X,
      clickId: '',
      receivedAt: T0 + MIN,
      position: `confirmations:0:${offset}:0`,
      ...over,
    } as InConfirmation;
    return [name, confirmationOffer(c, windowMs, MARGIN)];
  };
  const postback = { source: 'postback', campaignId: 'c1' };
  const byClick = { ...postback, eventId: '', clickId: ids.L };
  const offers = new Map<string, Offer>([
    event(
      'X',
      ids.X,
      EventType.REWARD_COMPLETE,
      { invalidReason: '', earns: true, attribution: { to: 'imp', model: 'view', lagMs: 1 } },
      10,
    ),
    event(
      'Y',
      ids.Y,
      EventType.CONVERSION,
      { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 60_000 } },
      11,
    ),
    event(
      'Y2',
      ids.Y2,
      EventType.CONVERSION,
      { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 90_000 } },
      12,
    ),
    // On click L too: Yi 5 s after it (click injection), Yo by another user on the click's device.
    event(
      'Yi',
      ids.Yi,
      EventType.CONVERSION,
      { invalidReason: 'click_injection', earns: false, attribution: { to: ids.L, model: 'click', lagMs: 5_000 } },
      13,
    ),
    event(
      'Yo',
      ids.Yo,
      EventType.CONVERSION,
      { invalidReason: '', earns: true, attribution: { to: ids.L, model: 'click', lagMs: 60_000, otherUser: true } },
      14,
      { userId: 'u2' },
    ),
    confirmation('K1', {}, 20),
    confirmation('K2', {}, 21),
    confirmation('K3', { eventId: ids.Y }, 25),
    confirmation('P1', { ...postback, eventId: ids.Y }, 22),
    confirmation('P2', byClick, 23),
    confirmation('P3', byClick, 24),
    // Verified confirmations of another app, and of another user, naming the same event or click.
    confirmation('KA', { appId: 'other.app' }, 26),
    confirmation('PA', { ...byClick, appId: 'other.app' }, 27),
    confirmation('KU', { userId: 'u2' }, 28),
    confirmation('PU', { ...byClick, userId: 'u2' }, 29),
    confirmation('KU:', { userId: 'u1:' }, 30),
    // X's confirmation from a campaign with a shorter window: its offer lives less than X's.
    confirmation('Kshort', {}, 31, 10 * MIN),
  ]);
  const names = new Map<string, string>(Object.entries(ids).map(([k, v]) => [v, k]));
  const offer = (batch: string[]) =>
    pairOffers(
      view,
      batch.map((n) => offers.get(n)!),
      { clickTtlMs },
    );
  /** Offers one batch; each emission as "<kind> <event> <confirmation> by <offering record> -> <reason>". */
  const step = (batch: string[]): string[] =>
    offer(batch).map((em) => {
      const { verification, earning } = decided(em);
      const reason = verification.reason === '' ? 'earns' : verification.reason;
      expect(!!earning).toBe(reason === 'earns');
      return `${em.kind} ${names.get(verification.event_id) ?? '-'} ${verification.transaction_id} by ${batch[em.offer]} -> ${reason}`;
    });
  const key = {
    event: (name: keyof typeof ids) => pairKeys.event('app', 'u1', ids[name]),
    click: () => pairKeys.click('app', 'u1', ids.L),
  };
  return { step, clock, expiresAt, key };
}

describe('pairOffers', () => {
  it.each<[string, [string[], string[]][]]>([
    [
      'event first, then its confirmation: the confirmation emits the pair, and only its redelivery emits it again',
      [
        [['X'], []],
        [['K1'], ['pair X K1 by K1 -> earns']],
        [['X'], []], // the event redelivered
        [['K1'], ['pair X K1 by K1 -> earns']], // the confirmation redelivered
      ],
    ],
    [
      'confirmation first, then the event: the event emits the pair, and only its redelivery emits it again',
      [
        [['K1'], []],
        [['X'], ['pair X K1 by X -> earns']],
        [['K1'], []],
        [['X'], ['pair X K1 by X -> earns']],
      ],
    ],
    [
      'a second confirmation of a paired event: already confirmed, by its own record, every time',
      [
        [['X'], []],
        [['K1'], ['pair X K1 by K1 -> earns']],
        [['K2'], ['second X K2 by K2 -> already_confirmed']],
        [['K2'], ['second X K2 by K2 -> already_confirmed']],
      ],
    ],
    [
      'two confirmations before the event: the first pairs, the second is already confirmed',
      [
        [['K1', 'K2'], ['second X K2 by K2 -> already_confirmed']],
        [['X'], ['pair X K1 by X -> earns']],
      ],
    ],
    [
      'within one call, the event then its confirmation: the confirmation completes the pair',
      [
        [['X', 'K1'], ['pair X K1 by K1 -> earns']],
        [['X', 'K1'], ['pair X K1 by K1 -> earns']],
      ],
    ],
    [
      'within one call, the confirmation then the event: the event completes the pair',
      [
        [
          ['K1', 'X', 'K2'],
          ['pair X K1 by X -> earns', 'second X K2 by K2 -> already_confirmed'],
        ],
      ],
    ],
    [
      'a postback naming the click before the conversion: parked, then paired by the conversion',
      [
        [['P2'], []],
        [['P2'], []], // redelivered while parked
        [['Y'], ['pair Y P2 by Y -> earns']],
        [['P2'], []], // redelivered after the hand-over: the conversion's record decided it
        [['Y'], ['pair Y P2 by Y -> earns']],
      ],
    ],
    [
      'a postback naming the click after the conversion: paired by the postback',
      [
        [['Y'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
        [['P2'], ['pair Y P2 by P2 -> earns']],
      ],
    ],
    [
      'parked and handed over within one call',
      [
        [
          ['P2', 'Y', 'P3'],
          ['pair Y P2 by Y -> earns', 'second - P3 by P3 -> already_confirmed'],
        ],
      ],
    ],
    [
      'a postback by event id and one by click id for the same conversion: one pair, one already confirmed',
      [
        [['P1'], []],
        [['P2'], []],
        [['Y'], ['second - P2 by Y -> already_confirmed', 'pair Y P1 by Y -> earns']],
        [['P2'], []], // redelivered after the hand-over: the conversion's record emitted its row
        [['Y'], ['second - P2 by Y -> already_confirmed', 'pair Y P1 by Y -> earns']],
      ],
    ],
    [
      'the same, the click-named one first after the conversion',
      [
        [['Y'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
        [['P1'], ['second Y P1 by P1 -> already_confirmed']],
      ],
    ],
    [
      'two postbacks naming the same click before the conversion: one parked, the other already confirmed',
      [
        [['P2', 'P3'], ['second - P3 by P3 -> already_confirmed']],
        [['Y'], ['pair Y P2 by Y -> earns']],
        [['P3'], ['second - P3 by P3 -> already_confirmed']],
      ],
    ],
    [
      'an ad network confirming a conversion: a pair, that earns nothing (type_mismatch)',
      [
        [['Y'], []],
        [['K3'], ['pair Y K3 by K3 -> type_mismatch']],
      ],
    ],
    [
      "another app's confirmation naming the event, after it: meets nothing, and the event's own confirmation earns",
      [
        [['X'], []],
        [['KA'], []],
        [['K1'], ['pair X K1 by K1 -> earns']],
      ],
    ],
    [
      "another app's confirmation naming the event, before it: meets nothing, and the event's own confirmation earns",
      [
        [['KA'], []],
        [['X'], []],
        [['K1'], ['pair X K1 by K1 -> earns']],
      ],
    ],
    [
      "another app's postback naming the click, after the conversion: meets nothing, and the conversion's own postback earns",
      [
        [['Y'], []],
        [['PA'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
      ],
    ],
    [
      "another app's postback naming the click, before the conversion: parked apart, and the conversion's own postback earns",
      [
        [['PA'], []],
        [['Y'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
      ],
    ],
    [
      "another user's confirmation naming the event, after it: meets nothing (no user_mismatch), and the event's own earns",
      [
        [['X'], []],
        [['KU'], []],
        [['KU:'], []], // a user id that extends the event's user with ':' is another user too
        [['K1'], ['pair X K1 by K1 -> earns']],
        [['KU'], []],
      ],
    ],
    [
      "another user's confirmation naming the event, before it: meets nothing, and the event's own earns",
      [
        [['KU', 'KU:'], []],
        [['X'], []],
        [['K1'], ['pair X K1 by K1 -> earns']],
      ],
    ],
    [
      "another user's postback naming the click, before and after the conversion: meets nothing, and the conversion's own earns",
      [
        [['PU'], []],
        [['Y'], []],
        [['PU'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
      ],
    ],
    [
      'an invalid conversion first on the click keeps it: a later conversion on it cannot take the postback',
      [
        [['Yi'], []],
        [['Y'], []],
        [['P2'], ['pair Yi P2 by P2 -> click_injection']],
      ],
    ],
    [
      'the same, the postback parked on the click first',
      [
        [['P2'], []],
        [['Yi'], ['pair Yi P2 by Yi -> click_injection']],
        [['Y'], []],
      ],
    ],
    [
      "another user's conversion on the click's device leaves the click to its own user's conversion",
      [
        [['Yo'], []],
        [['Y'], []],
        [['P2'], ['pair Y P2 by P2 -> earns']],
      ],
    ],
  ])('%s', (_name, steps) => {
    const w = world();
    for (const [batch, expected] of steps) expect(w.step(batch)).toEqual(expected);
  });

  it('keeps an event hash for its offer lifetime after each offer, never shortening it', () => {
    const w = world();
    w.step(['X']);
    expect(w.expiresAt(w.key.event('X'))).toBe(T0 + WINDOW + MARGIN);
    w.clock.now += 30 * MIN;
    w.step(['Kshort']); // a confirmation whose campaign window is shorter
    expect(w.expiresAt(w.key.event('X'))).toBe(T0 + WINDOW + MARGIN);
    w.step(['K2']);
    expect(w.expiresAt(w.key.event('X'))).toBe(T0 + 30 * MIN + WINDOW + MARGIN);
  });

  it.each([
    ['the claims, when longer than the offer', 7 * DAY, T0 + 7 * DAY],
    ['the offer, when longer than the claims', MIN, T0 + WINDOW + MARGIN],
  ])('keeps a click index as long as %s', (_name, clickTtlMs, expiresAt) => {
    for (const first of ['Y', 'P2']) {
      const w = world(clickTtlMs);
      w.step([first]);
      expect(w.expiresAt(w.key.click())).toBe(expiresAt);
    }
  });

  it('pays a click-named postback once: redelivered after the pair hashes expired, it never pairs with a later conversion on the click', () => {
    const w = world(7 * DAY);
    expect(w.step(['Y'])).toEqual([]);
    expect(w.step(['P2'])).toEqual(['pair Y P2 by P2 -> earns']);
    w.clock.now += WINDOW + MARGIN; // the pair hashes are gone; the click index lives on with the claims
    expect(w.expiresAt(w.key.event('Y'))).toBeUndefined();
    expect(w.step(['Y2'])).toEqual([]); // a later conversion on the same click
    expect(w.step(['P2'])).toEqual([]); // the postback redelivered (its claim says so): no second earning
  });

  it('decides nothing for a confirmation that comes after its event hash expired', () => {
    const w = world();
    w.step(['X']);
    w.clock.now += WINDOW + MARGIN;
    expect(w.step(['K1'])).toEqual([]);
  });
});

describe('pairKeys', () => {
  // Naively joined with ':', ('u:x', 'y') and ('u', 'x:y') would be one key.
  const tuple = fc.tuple(
    fc.constantFrom('app', 'app2'),
    fc.string({ unit: fc.constantFrom(':', '"', '\\', 'a'), maxLength: 4 }),
    fc.string({ unit: fc.constantFrom(':', '"', 'a'), maxLength: 4 }),
  );

  it('gives distinct tuples of app, user and id distinct keys, whatever the user and id hold', () => {
    fc.assert(
      fc.property(fc.array(tuple, { maxLength: 60 }), (tuples) => {
        const distinct = new Set(tuples.map((t) => JSON.stringify(t)));
        for (const make of [pairKeys.event, pairKeys.click])
          expect(new Set(tuples.map((t) => make(...t))).size).toBe(distinct.size);
      }),
    );
  });

  it("tells a user and an id from the same text split at another ':'", () => {
    const text = fc.string({ unit: fc.constantFrom(':', '"', '\\', 'a'), maxLength: 4 });
    fc.assert(
      fc.property(text, text, text, (a, b, c) => {
        for (const make of [pairKeys.event, pairKeys.click])
          expect(make('app', `${a}:${b}`, c)).not.toBe(make('app', a, `${b}:${c}`));
      }),
    );
  });

  it('keeps events and clicks apart', () => {
    expect(pairKeys.event('app', 'u', 'x')).not.toBe(pairKeys.click('app', 'u', 'x'));
    expect(pairKeys.event('app', 'u1', 'e1')).toBe('v:e:app:"u1":e1');
  });
});

describe('pairOffers, random interleavings', () => {
  // Event i of user users[i % 3] (ids shared between users): a completion, with confirmations a and b
  // naming it, or a conversion on its own click, a naming the click and b the conversion. Each record
  // is offered 0-3 times, in any order and batching.
  const users = ['u', 'u:', ':u"'];
  const records = (n: number): Offer[] =>
    Array.from({ length: n }, (_, i) => {
      const byClick = i % 2 === 1;
      const base = { appId: 'app', userId: users[i % 3]!, ttlMs: WINDOW };
      const k = (name: string, offset: number, click: boolean): Offer => ({
        ...base,
        side: 'k',
        eventId: click ? '' : `e${i % 2}`,
        clickId: click ? `c${i % 2}` : '',
        position: `k:${offset}`,
        payload: `${name}${i}`,
      });
      return [
        {
          ...base,
          side: 'e',
          eventId: `e${i % 2}`,
          clickId: byClick ? `c${i % 2}` : '',
          position: `e:${i}`,
          payload: `e${i}`,
        } as Offer,
        k('a', 2 * i, byClick),
        k('b', 2 * i + 1, false),
      ];
    }).flat();
  const run = fc.integer({ min: 1, max: 4 }).chain((n) => {
    const all = records(n);
    return fc.tuple(
      fc.constant(all),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: all.length, maxLength: all.length }).chain((counts) =>
        fc.shuffledSubarray(
          all.flatMap((o, j) => Array.from({ length: counts[j]! }, () => o)),
          { minLength: counts.reduce((a, b) => a + b, 0) },
        ),
      ),
      fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    );
  });

  it('pairs each event once, from distinct records, and a redelivered record emits again exactly what it emitted first', () => {
    fc.assert(
      fc.property(run, ([all, order, cuts]) => {
        const { view } = memoryView({ now: T0 });
        const batches: Offer[][] = [[]];
        order.forEach((o, j) =>
          cuts[j % cuts.length] && batches.at(-1)!.length > 0 ? batches.push([o]) : batches.at(-1)!.push(o),
        );
        const byRecord = new Map<Offer, Emission[][]>();
        const emitted: { by: Offer; emission: Emission }[] = [];
        for (const batch of batches) {
          const emissions = pairOffers(view, batch, { clickTtlMs: WINDOW });
          batch.forEach((o, j) => {
            const mine = emissions.filter((em) => em.offer === j).map((em) => ({ ...em, offer: 0 }));
            byRecord.set(o, [...(byRecord.get(o) ?? []), mine]);
            for (const emission of mine) emitted.push({ by: o, emission });
          });
        }
        for (const deliveries of byRecord.values()) for (const d of deliveries) expect(d).toEqual(deliveries[0]);
        for (const e of all.filter((o) => o.side === 'e')) {
          const i = e.payload.slice(1);
          const pairs = emitted.filter((x) => x.emission.kind === 'pair' && x.emission.e === e.payload);
          expect(new Set(pairs.map((x) => x.by)).size).toBeLessThanOrEqual(1);
          expect(new Set(pairs.map((x) => x.emission.k)).size).toBeLessThanOrEqual(1);
          const confirmations = all.filter((o) => o.side === 'k' && o.payload.slice(1) === i && byRecord.has(o));
          if (!byRecord.has(e)) {
            expect(pairs).toEqual([]);
            continue;
          }
          // Offered, the event pairs with one offered confirmation, and each other one is already confirmed.
          expect(pairs.length > 0).toBe(confirmations.length > 0);
          for (const k of confirmations) {
            const seconds = emitted.filter((x) => x.emission.kind === 'second' && x.emission.k === k.payload);
            expect(seconds.length > 0).toBe(pairs[0]?.emission.k !== k.payload);
            expect(seconds.every((x) => x.emission.e === '')).toBe(true);
          }
          // Emitted by the record that completed it: the event or the confirmation in the pair.
          if (pairs[0]) expect(pairs[0].by === e || pairs[0].by.payload === pairs[0].emission.k).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
