// Rows for the tests of the ClickHouse write path, built as rows.ts builds them: an event and a
// confirmation with every field set, and a set with the edge values each column allows.
import { EventType } from '../schemas/beacon-json.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import type { InEvent } from './records.js';
import { attributionRow, confirmationRow, deadlineRow, eventRow, verificationRow, type Table } from './rows.js';

const T = 1_763_800_000_000;
export function event(id: string, over: Partial<InEvent> = {}): InEvent {
  return {
    id,
    type: EventType.IMPRESSION,
    time: T,
    receivedAt: T + 1_500,
    appId: 'app',
    userId: 'u',
    deviceId: 'd',
    campaignId: 'c',
    creativeId: 'cr',
    clickId: '',
    givt: '',
    position: `b:0:1:${id}`,
    offset: 1,
    index: 0,
    occurredAt: T - 7,
    sdk: 'ios/3.1',
    placementId: 'p',
    valueMicros: 0,
    currency: '',
    attrs: {},
    ipHash: 'ab12',
    uaClass: 'app',
    country: 'CN',
    ...over,
  };
}
export function confirmation(transactionId: string, over: Partial<InConfirmation> = {}): InConfirmation {
  return {
    key: `admob:${transactionId}`,
    position: 'c:0:1:0',
    offset: 1,
    source: 'admob',
    transactionId,
    appId: 'app',
    userId: 'u',
    campaignId: 'c',
    eventId: 'e-complete',
    clickId: '',
    receivedAt: T + 9_000,
    occurredAt: T + 8_000,
    keyId: 'k1',
    adUnit: 'unit-1',
    rewardItem: 'coins',
    rewardAmount: 10,
    valueMicros: 0,
    currency: '',
    ...over,
  };
}
export const valid: Decision = { invalidReason: '', earns: false };
export const attributed = (to: string, model: 'click' | 'view', lagMs: number, invalidReason = ''): Decision => ({
  invalidReason,
  earns: !invalidReason,
  attribution: { to, model, lagMs },
});

/** Rows as rows.ts builds them, with the edge values each column allows. */
export function edgeRows(): Record<Table, object[]> {
  const events: [InEvent, Decision][] = [
    [event('e-imp'), valid],
    [event('e-view', { type: EventType.VIEWABLE, attrs: { screen: 'home', ab: 'b' } }), valid],
    [event('e-click', { type: EventType.CLICK, clickId: 'ck-1' }), { invalidReason: 'click_flooding', earns: false }],
    [
      event('e-empty', {
        // every String empty, every number 0
        sdk: '',
        deviceId: '',
        creativeId: '',
        placementId: '',
        ipHash: '',
        uaClass: '',
        country: '',
        time: 0,
        receivedAt: 0,
        occurredAt: 0,
      }),
      valid,
    ],
    [
      event('e-unicode-用户', {
        // Chinese, 2-byte letters, a 4-byte emoji, a NUL, empty keys and values in attrs
        userId: 'usér-用户',
        sdk: 'sdk/😀',
        country: 'ü',
        attrs: { '😀': '中文', '': '', k: '', nul: 'a\u0000b' },
        currency: '€',
      }),
      { invalidReason: 'bot_user_agent', earns: false },
    ],
    [
      event('e-max', {
        // the largest values the row's numbers carry: what JSONEachRow sent is what is read back
        time: (2 ** 32 - 1) * 1000,
        receivedAt: (2 ** 32 - 1) * 1000 + 999,
        occurredAt: 2 ** 64 - 2048,
        valueMicros: Number.MAX_SAFE_INTEGER,
      }),
      valid,
    ],
    [
      event('e-big', { occurredAt: 2 ** 63, valueMicros: 2 ** 53 + 2, type: EventType.CONVERSION, currency: 'CNY' }),
      attributed('e-click', 'click', 0),
    ],
    [event('e-complete', { type: EventType.REWARD_COMPLETE }), attributed('e-imp', 'view', -(2 ** 62), '')],
    [
      event('e-late', { type: EventType.CONVERSION }),
      attributed('e-view', 'view', -Number.MAX_SAFE_INTEGER, 'click_injection'),
    ],
  ];
  const confirmations = [
    confirmation('tx-1'),
    confirmation('tx-empty', {
      campaignId: '',
      eventId: '',
      clickId: 'ck-1',
      keyId: '',
      adUnit: '',
      rewardItem: '',
      rewardAmount: 0,
      occurredAt: 0,
    }),
    confirmation('tx-neg-😀', {
      occurredAt: -5,
      rewardAmount: -(2 ** 62),
      valueMicros: 2 ** 63 - 1024,
      currency: '人民币',
      userId: 'usér-用户',
    }),
    confirmation('tx-min', {
      source: 'postback',
      occurredAt: -Number.MAX_SAFE_INTEGER,
      valueMicros: Number.MAX_SAFE_INTEGER,
      receivedAt: (2 ** 32 - 1) * 1000,
    }),
  ];
  const side = (e: InEvent, d: Decision) => ({
    ...e,
    invalidReason: d.invalidReason,
    attributed: !!d.attribution,
    windowMs: 3_600_000,
    flags: [],
  });
  return {
    events: events.map(([e, d]) => eventRow(e, d)),
    attributions: events.flatMap(([e, d]) => attributionRow(e, d) ?? []),
    deadlines: events.flatMap(([e, d]) => deadlineRow(e, d, 3_600_000) ?? []),
    confirmations: confirmations.map((c) => confirmationRow(c, 2 ** 53 - 1 - c.receivedAt)),
    verifications: [
      verificationRow(side(...events[7]!), confirmations[0]!, ''),
      verificationRow(side(...events[6]!), confirmations[3]!, 'type_mismatch'),
      verificationRow(undefined, confirmations[2]!, 'already_confirmed'),
    ],
  };
}
