import { compressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { snappyCodec } from './kafka.js';

describe('the snappy codec', () => {
  const text = Buffer.from('impression impression click impression '.repeat(200));

  it('reads back what it writes', async () => {
    const codec = snappyCodec();
    const compressed = await codec.compress({ buffer: text });
    expect(compressed.length).toBeLessThan(text.length / 4);
    expect(await codec.decompress(compressed)).toEqual(text);
  });

  it('reads the xerial framing Java producers write: magic, versions, then length-prefixed blocks', async () => {
    const length = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const halves = [text.subarray(0, 3000), text.subarray(3000)].map((b) => compressSync(b) as Buffer);
    const framed = Buffer.concat([
      Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]),
      ...halves.flatMap((block) => [length(block.length), block]),
    ]);
    expect(await snappyCodec().decompress(framed)).toEqual(text);
  });
});
