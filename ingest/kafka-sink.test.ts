import { describe, expect, it } from 'vitest';
import { byTopic } from './kafka-sink.js';

const r = (key: string, topic?: string) => ({ key, value: new Uint8Array(0), events: 1, ...(topic ? { topic } : {}) });

describe('byTopic', () => {
  it.each([
    ["beacons alone go to the sink's topic as they are", [r('a'), r('b')], [['beacons', ['a', 'b']]]],
    [
      'confirmations in the same produce call go to their own topic, order kept',
      [r('a'), r('c1', 'conf'), r('b'), r('c2', 'conf')],
      [
        ['beacons', ['a', 'b']],
        ['conf', ['c1', 'c2']],
      ],
    ],
    ['confirmations alone', [r('c1', 'conf')], [['conf', ['c1']]]],
  ] as const)('%s', (_name, records, expected) => {
    expect(byTopic('beacons', [...records]).map((g) => [g.topic, g.messages.map((m) => m.key)])).toEqual(expected);
  });
});
