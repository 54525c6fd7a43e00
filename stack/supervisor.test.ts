import { describe, expect, it } from 'vitest';
import { readable } from './supervisor.js';

describe('readable log lines (npm start at a terminal)', () => {
  it('shows time, level, message and the other fields, without the ones every line has', () => {
    const line = JSON.stringify({
      level: 40,
      time: '2026-12-05T09:10:11.123Z',
      service: 'aggregator',
      name: 'aggregator',
      msg: 'beacon_step_failed',
      partition: 3,
      topic: 'beacons',
      seen: { a: 1 },
    });
    expect(readable(line)).toBe('09:10:11.123 WARN  beacon_step_failed partition=3 topic=beacons seen={"a":1}');
  });

  it("puts an error's message in the line and its stack below", () => {
    const line = JSON.stringify({
      level: 50,
      time: '2026-12-05T09:10:11.123Z',
      msg: 'failed',
      err: { message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' },
    });
    expect(readable(line)).toBe('09:10:11.123 ERROR failed err="boom"\n  Error: boom\n      at f (x.js:1:1)');
  });

  it('leaves anything that is not a JSON object as it is', () => {
    for (const line of ['plain text', '{not json', '']) expect(readable(line)).toBe(line);
  });
});
