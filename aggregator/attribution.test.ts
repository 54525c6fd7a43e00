import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { decide, defaultCampaign, type AttributionEvent } from './attribution.js';
import { readTouches, type Snapshot } from './state.js';

const T0 = Date.UTC(2026, 10, 1, 12);
const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

let n = 0;
const ev = (type: keyof typeof EventType, at: number, over: Partial<AttributionEvent> = {}): AttributionEvent => ({
  id: `e${String(++n).padStart(4, '0')}`,
  type: EventType[type],
  time: T0 + at,
  receivedAt: T0 + at,
  appId: 'app',
  userId: 'u1',
  deviceId: 'd1',
  campaignId: 'c1',
  creativeId: 'cr1',
  clickId: '',
  givt: '',
  ...over,
});
const empty = (): Snapshot => ({ touches: new Map(), clicks: new Map(), flood: new Map(), flags: new Map() });
const run = (events: AttributionEvent[], max = 20) =>
  decide(events, empty(), { settings: () => defaultCampaign, maxClicksPerDeviceHour: max }).decisions;
const last = (events: AttributionEvent[], max?: number) => run(events, max).at(-1)!;

describe('conversion attribution', () => {
  it('attributes to the last click of the same user on the campaign', () => {
    const a = ev('CLICK', 0);
    const b = ev('CLICK', H);
    expect(last([a, b, ev('CONVERSION', 2 * H)])).toEqual({
      invalidReason: '',
      earns: true,
      attribution: { to: b.id, model: 'click', lagMs: H },
    });
  });

  it('prefers a click to a later impression, and an impression only inside the 24 h view window', () => {
    const click = ev('CLICK', 0);
    expect(last([click, ev('IMPRESSION', H), ev('CONVERSION', 2 * H)]).attribution).toEqual({
      to: click.id,
      model: 'click',
      lagMs: 2 * H,
    });
    const view = ev('VIEWABLE', 0);
    expect(last([view, ev('CONVERSION', 23 * H)]).attribution).toEqual({ to: view.id, model: 'view', lagMs: 23 * H });
    expect(last([ev('IMPRESSION', 0), ev('CONVERSION', 25 * H)])).toEqual({ invalidReason: '', earns: false });
  });

  it('ignores clicks outside the 7-day lookback, on other campaigns, or later than the conversion', () => {
    expect(last([ev('CLICK', 0), ev('CONVERSION', 7 * D + 1)]).attribution).toBeUndefined();
    expect(last([ev('CLICK', 0, { campaignId: 'c2' }), ev('CONVERSION', H)]).attribution).toBeUndefined();
    expect(last([ev('CLICK', 2 * H), ev('CONVERSION', H)]).attribution).toBeUndefined(); // a late click does not count
  });

  it("matches a click made by another user on the same device, and says it was another user's", () => {
    const click = ev('CLICK', 0, { userId: 'u2' });
    expect(last([click, ev('CONVERSION', H)]).attribution).toEqual({
      to: click.id,
      model: 'click',
      lagMs: H,
      otherUser: true,
    });
  });

  it('breaks a tie between clicks at the same time by the greater event id', () => {
    const a = ev('CLICK', 0, { id: 'b-click' });
    const b = ev('CLICK', 0, { id: 'a-click' });
    expect(last([a, b, ev('CONVERSION', H)]).attribution?.to).toBe('b-click');
  });

  it('lets a click_id naming a click of the same user win over a later click', () => {
    const named = ev('CLICK', 0);
    expect(last([named, ev('CLICK', H), ev('CONVERSION', 2 * H, { clickId: named.id })]).attribution?.to).toBe(
      named.id,
    );
  });

  it('flags a conversion whose click_id belongs to another user, and pays nothing', () => {
    const other = ev('CLICK', 0, { userId: 'u2', deviceId: 'd2' });
    expect(last([other, ev('CONVERSION', H, { clickId: other.id })])).toMatchObject({
      invalidReason: 'click_id_other_user',
      earns: false,
    });
  });

  it('flags click injection: a conversion less than 10 s after its click', () => {
    expect(last([ev('CLICK', 0), ev('CONVERSION', 9 * S)])).toMatchObject({
      invalidReason: 'click_injection',
      earns: false,
      attribution: { model: 'click' },
    });
    expect(last([ev('CLICK', 0), ev('CONVERSION', 10 * S)])).toMatchObject({ invalidReason: '', earns: true });
  });

  it('never attributes to bot traffic and never pays a bot conversion', () => {
    expect(last([ev('CLICK', 0, { givt: 'bot_user_agent' }), ev('CONVERSION', H)]).attribution).toBeUndefined();
    expect(last([ev('CLICK', 0), ev('CONVERSION', H, { givt: 'datacenter_ip' })])).toMatchObject({
      invalidReason: 'datacenter_ip',
      earns: false,
    });
  });
});

describe('rewarded completion', () => {
  it('is verified by an impression of the same creative within 30 minutes before it', () => {
    const shown = ev('IMPRESSION', 0);
    expect(last([shown, ev('REWARD_COMPLETE', 30 * MIN)])).toEqual({
      invalidReason: '',
      earns: true,
      attribution: { to: shown.id, model: 'view', lagMs: 30 * MIN },
    });
  });

  it('is not verified without that impression', () => {
    expect(last([ev('IMPRESSION', 0), ev('REWARD_COMPLETE', 31 * MIN)]).earns).toBe(false);
    expect(last([ev('IMPRESSION', 0, { creativeId: 'cr2' }), ev('REWARD_COMPLETE', MIN)]).earns).toBe(false);
    expect(last([ev('IMPRESSION', 0, { userId: 'u2' }), ev('REWARD_COMPLETE', MIN)]).earns).toBe(false);
    expect(last([ev('VIEWABLE', 0), ev('REWARD_COMPLETE', MIN)]).earns).toBe(false);
    expect(last([ev('IMPRESSION', 2 * MIN), ev('REWARD_COMPLETE', MIN)]).earns).toBe(false); // shown after completing
  });

  it('is not paid when flagged invalid', () => {
    expect(last([ev('IMPRESSION', 0), ev('REWARD_COMPLETE', MIN, { givt: 'bot_user_agent' })])).toMatchObject({
      earns: false,
      invalidReason: 'bot_user_agent',
    });
  });
});

describe('receive times', () => {
  // Device times order the touches, but a device can set them: a touch that reached the collector
  // after the event did cannot have caused it, whatever its occurred_at says.
  it.each([
    ['a click', 'CLICK', 'CONVERSION'],
    ['an impression (view-through)', 'IMPRESSION', 'CONVERSION'],
    ['the impression of a completion', 'IMPRESSION', 'REWARD_COMPLETE'],
  ] as const)(
    'never lets %s received after the event be its cause, though its device time is earlier',
    (_name, touch, type) => {
      const early = ev(touch, 0, { receivedAt: T0 + 5 * MIN });
      expect(last([early, ev(type, MIN, { receivedAt: T0 + 4 * MIN })]).attribution).toBeUndefined();
      const inTime = ev(touch, 0, { receivedAt: T0 + 4 * MIN });
      expect(last([inTime, ev(type, MIN, { receivedAt: T0 + 4 * MIN })]).attribution?.to).toBe(inTime.id);
    },
  );

  it('never lets a click named by click_id and received after the conversion be its cause', () => {
    const named = ev('CLICK', 0, { receivedAt: T0 + 2 * H });
    expect(last([named, ev('CONVERSION', H, { clickId: named.id, receivedAt: T0 + H })]).attribution).toBeUndefined();
  });

  it('counts a stored touch without a receipt time (written before it was kept) as received at its device time', () => {
    const click = ev('CLICK', 0);
    const snapshot = empty();
    snapshot.touches.set(
      'l:c:app:u1:c1',
      readTouches(`${T0} ${JSON.stringify([EventType.CLICK, click.id, 'cr1', 'u1', ''])}\n`),
    );
    const decide1 = (receivedAt: number) =>
      decide([ev('CONVERSION', H, { receivedAt })], snapshot, {
        settings: () => defaultCampaign,
        maxClicksPerDeviceHour: 20,
      }).decisions[0]!;
    expect(decide1(T0 + H).attribution?.to).toBe(click.id);
    expect(decide1(T0 - 1).attribution).toBeUndefined();
  });
});

describe('campaign ownership', () => {
  const owned = (appId: string | null) => ({
    settings: () => ({ ...defaultCampaign, appId }),
    maxClicksPerDeviceHour: 20,
  });
  it.each([
    ['another app', 'other.app', 'campaign_not_in_app', false],
    ['this app', 'app', '', true],
    ['no app yet (rewards refuses it)', null, '', true],
  ] as const)('flags an event of a campaign owned by %s accordingly', (_name, appId, reason, earns) => {
    const { decisions } = decide([ev('IMPRESSION', 0), ev('REWARD_COMPLETE', MIN)], empty(), owned(appId));
    expect(decisions.map((d) => d.invalidReason)).toEqual([reason, reason]);
    expect(decisions[1]!.earns).toBe(earns);
  });
});

describe('click flooding', () => {
  it('flags every click of a device beyond the hourly limit, and the conversions they win', () => {
    const clicks = Array.from({ length: 4 }, (_, i) => ev('CLICK', i * MIN));
    const d = run([...clicks, ev('CONVERSION', H - 1)], 3);
    expect(d.map((x) => x.invalidReason)).toEqual(['', '', '', 'click_flooding', 'click_flooding']);
  });

  it("leaves duplicates out, and keeps a redelivered click's stored flag, so neither changes later decisions", () => {
    const config = { settings: () => defaultCampaign, maxClicksPerDeviceHour: 2 };
    const first = [ev('CLICK', 0), ev('CLICK', MIN), ev('CLICK', 2 * MIN)];
    const { decisions: before } = decide(first, empty(), config);
    expect(before.map((x) => x.invalidReason)).toEqual(['', '', 'click_flooding']);
    // Later: an SDK retry of the flagged click (a few ms later after skew correction) and a conversion.
    const retry = { ...first[2]!, time: first[2]!.time + 40 };
    const conversion = ev('CONVERSION', 7 * MIN);
    const run = (known: ((typeof before)[number] | null)[]) => {
      const snapshot = empty();
      const key = decide(first, snapshot, config)
        .writes.flat()
        .find((w) => w.op === 'flood')!.key;
      const later = empty();
      later.flood.set(key, new Set(first.map((c) => c.id)));
      later.touches = snapshot.touches;
      return decide([retry, conversion], later, config, known).decisions;
    };
    expect(run([null])[1]).toMatchObject({
      invalidReason: 'click_flooding',
      attribution: { to: retry.id, lagMs: 5 * MIN },
    });
    expect(run([before[2]!])[1]).toMatchObject({
      invalidReason: 'click_flooding',
      attribution: { to: retry.id, lagMs: 5 * MIN - 40 },
    });
    expect(run([])[1]).toMatchObject({ invalidReason: '' }); // without what the claims say, the retry would launder the flag
  });

  it('counts clicks per clock hour, so the next hour starts afresh', () => {
    const d = run([ev('CLICK', 0), ev('CLICK', MIN), ev('CLICK', H)], 2);
    expect(d.map((x) => x.invalidReason)).toEqual(['', '', '']);
  });
});

describe('state writes', () => {
  it('remembers views and clicks under the user apart, clicks also under the device and by id', () => {
    const click = ev('CLICK', 0);
    const { writes } = decide([ev('IMPRESSION', 0), click], empty(), {
      settings: () => defaultCampaign,
      maxClicksPerDeviceHour: 20,
    });
    expect(writes[0]!.map((w) => w.key)).toEqual(['l:v:app:u1:c1']);
    expect(writes[1]!.map((w) => w.key).sort()).toEqual([
      `f:app:d1:${Math.floor(T0 / H)}`,
      `k:app:${click.id}`,
      'l:c:app:u1:c1',
      'l:d:app:d1:c1',
    ]);
  });
});

describe('person flags', () => {
  const settings = { settings: () => defaultCampaign, maxClicksPerDeviceHour: 20 };

  it('flag the person with each invalid reason, and an event that earns later carries the flags so far', () => {
    const click = ev('CLICK', 0);
    const injected = ev('CONVERSION', 3 * S, { clickId: click.id });
    const shown = ev('IMPRESSION', H, { creativeId: 'cr2' });
    const completion = ev('REWARD_COMPLETE', H + 30 * S, { creativeId: 'cr2' });
    const { decisions, writes } = decide([click, injected, shown, completion], empty(), settings);
    expect(decisions[1]).toMatchObject({ invalidReason: 'click_injection', earns: false });
    expect(writes[1]).toContainEqual({ op: 'flag', key: 'u:app:u1', ttlMs: 7 * D, reason: 'click_injection' });
    expect(decisions[3]).toMatchObject({ earns: true, userFlags: ['click_injection'] });
  });

  it('carry the flags stored before the batch, and none for a person never flagged or for events before the flag', () => {
    const snapshot = empty();
    snapshot.flags.set('u:app:u1', new Set(['click_flooding', 'bot_user_agent']));
    const flagged = decide([ev('IMPRESSION', 0), ev('REWARD_COMPLETE', 30 * S)], snapshot, settings).decisions[1]!;
    expect(flagged.userFlags).toEqual(['bot_user_agent', 'click_flooding']);
    const clean = decide(
      [ev('IMPRESSION', 0, { userId: 'u2' }), ev('REWARD_COMPLETE', 30 * S, { userId: 'u2' })],
      empty(),
      settings,
    ).decisions[1]!;
    expect(clean).toEqual({ invalidReason: '', earns: true, attribution: expect.anything() });
  });

  it("flag from a redelivered event's stored decision, so a redelivery carries the same flags", () => {
    const stored = { invalidReason: 'click_flooding', earns: false };
    const { decisions, writes } = decide(
      [ev('CLICK', 0), ev('IMPRESSION', MIN), ev('REWARD_COMPLETE', MIN + 30 * S)],
      empty(),
      settings,
      [stored, undefined, undefined],
    );
    expect(writes[0]).toContainEqual({ op: 'flag', key: 'u:app:u1', ttlMs: 7 * D, reason: 'click_flooding' });
    expect(decisions[2]!.userFlags).toEqual(['click_flooding']);
  });

  it('take nothing from a duplicate, and a redelivered conversion flags with what it decided the first time', () => {
    const click = ev('CLICK', 0);
    const copy = ev('CONVERSION', 3 * S, { clickId: click.id }); // would be click_injection if decided afresh
    const redelivered = ev('CONVERSION', 2 * MIN, { clickId: click.id });
    const later = [ev('IMPRESSION', H), ev('REWARD_COMPLETE', H + 30 * S)];
    const stored = { invalidReason: 'click_flooding', earns: false };
    const { decisions, writes } = decide([click, copy, redelivered, ...later], empty(), settings, [
      undefined,
      null,
      stored,
      undefined,
      undefined,
    ]);
    expect(writes[1]).toEqual([]);
    expect(writes[2]).toEqual([{ op: 'flag', key: 'u:app:u1', ttlMs: 7 * D, reason: 'click_flooding' }]);
    expect(decisions[4]!.userFlags).toEqual(['click_flooding']);
  });

  it('keep a flag one plain word, whatever the reason', () => {
    const { writes } = decide([ev('IMPRESSION', 0, { givt: 'bot: UA-x' })], empty(), settings);
    expect(writes[0]).toEqual([{ op: 'flag', key: 'u:app:u1', ttlMs: 7 * D, reason: 'bot__ua_x' }]);
  });
});
