import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { appendTouches, readTouches, touchAppend, touchLine, TOUCHES_KEPT, type Touch } from './state.js';

const touch = (over: Partial<Touch> = {}): Touch => ({ id: 'e-1', type: EventType.CLICK, time: 1_000, receivedAt: 1_005, creativeId: 'cr', userId: 'u', flag: '', ...over });

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
    expect({ ...t }).toEqual({ id: back!.id, type: back!.type, time: back!.time, receivedAt: back!.receivedAt, creativeId: back!.creativeId, userId: back!.userId, flag: back!.flag });
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
