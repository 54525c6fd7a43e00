import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { decodeHash, encodeHash } from './step-state.js';
import { appendTouches, readTouches, touchAppend, touchLine, TOUCHES_KEPT, type Touch } from './state.js';

const touch = (over: Partial<Touch> = {}): Touch => ({
  id: 'e-1',
  type: EventType.CLICK,
  time: 1_000,
  receivedAt: 1_005,
  creativeId: 'cr',
  userId: 'u',
  flag: '',
  ...over,
});

describe('touch lines', () => {
  it.each([
    ['plain ids', touch()],
    ['a quote and a backslash', touch({ id: 'a"b\\c', userId: '"' })],
    ['control characters', touch({ creativeId: 'x\ny\u0001', flag: '\t' })],
    ['text beyond ASCII', touch({ userId: '用户😀', creativeId: 'é' })],
    ['a flag', touch({ flag: 'click_flooding', type: EventType.IMPRESSION })],
  ])('are "<time> <received_at> <JSON>" with %s, and read back as written', (_name, t) => {
    const line = touchLine(t);
    expect(line).toBe(`${t.time} ${t.receivedAt} ${JSON.stringify([t.type, t.id, t.creativeId, t.userId, t.flag])}\n`);
    const [back] = readTouches(line);
    expect({ ...t }).toEqual({
      id: back!.id,
      type: back!.type,
      time: back!.time,
      receivedAt: back!.receivedAt,
      creativeId: back!.creativeId,
      userId: back!.userId,
      flag: back!.flag,
    });
  });

  it('append in order, and are cut back to the newest distinct lines within the window once the list doubles', () => {
    const touches = Array.from({ length: 3 * TOUCHES_KEPT }, (_, i) => touch({ id: `e-${i}`, time: 1_000 + i }));
    const { lines, oldest, cutAt } = touchAppend(touches, 50);
    expect(lines).toBe(touches.map(touchLine).join(''));
    expect(oldest).toBe(1_000 + 3 * TOUCHES_KEPT - 1 - 50);
    const list = appendTouches('', lines, oldest, cutAt);
    expect(readTouches(list).map((t) => t.id)).toEqual(touches.slice(-TOUCHES_KEPT).map((t) => t.id));
  });
});

describe('pairing hashes as stored', () => {
  const side = JSON.stringify([
    'e-1',
    EventType.CONVERSION,
    'app',
    'u"1',
    'd',
    'c',
    1_000,
    1_005,
    '',
    1,
    3_600_000,
    ['bot_user_agent'],
  ]);
  it.each([
    [
      'every slot',
      {
        e: side,
        ep: 'beacons:3:17:2',
        k: JSON.stringify(['admob', 't;1,2']),
        kp: 'confirmations:3:9:0',
        done: 'beacons:3:17:2',
      },
    ],
    ['absent and empty slots', { e: '', k: side }],
    ['an id with every separator in it', { e: 'click;-1,\n"\u0000', k: '用户😀;' }],
    ['nothing yet', {}],
  ])('read back as written: %s', (_name, h) => {
    const value = encodeHash(h, 1_234_567);
    expect(decodeHash(value)).toEqual({ h, x: 1_234_567 });
    expect(value.length).toBeLessThan(JSON.stringify({ h, x: 1_234_567 }).length + 30);
  });

  it('carry the sides as they are, with no JSON escape around them', () => {
    expect(encodeHash({ e: side }, 5)).toBe(`5;${side.length},-1,-1,-1,-1,;${side}`);
  });

  it('leave absent a slot the value has no length for (one added after it was written)', () => {
    expect(decodeHash(`5;${side.length},;${side}`)).toEqual({ h: { e: side }, x: 5 });
  });

  it('read a hash stored as JSON before', () => {
    const h = { e: side, ep: 'beacons:0:1:0' };
    expect(decodeHash(JSON.stringify({ h, x: 9 }))).toEqual({ h, x: 9 });
  });
});
