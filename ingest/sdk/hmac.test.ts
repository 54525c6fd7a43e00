import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256, sha256 } from './hmac.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe("the SDK's HMAC-SHA256", () => {
  it('hashes as node:crypto does, across the padding boundaries', () => {
    for (let n = 0; n < 200; n++) {
      const data = Buffer.alloc(n, n);
      expect(hex(sha256(data))).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });

  it('signs as node:crypto does, for keys shorter and longer than a block', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        expect(hex(hmacSha256(key)(message))).toBe(createHmac('sha256', key).update(message).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });
});
