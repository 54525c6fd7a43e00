import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { stopAll } from './shutdown.js';

describe('stopAll', () => {
  it('stops parts in reverse start order and keeps going past a failure', async () => {
    const order: string[] = [];
    const part = (name: string, fail = false) => ({
      name,
      async stop() {
        order.push(name);
        if (fail) throw new Error('boom');
      },
    });
    const failed = await stopAll(
      [part('producer'), part('consumer', true), part('server')],
      createLogger('t', 'silent'),
    );
    expect(order).toEqual(['server', 'consumer', 'producer']);
    expect(failed).toBe(true);
  });
});
