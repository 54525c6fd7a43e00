import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { crc32c, partitionOf, Reader, recordBatch, Writer } from './kafka-wire.js';

describe('the producer wire format', () => {
  it('computes CRC-32C (the check value of "123456789" is 0xE3069283)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('puts every key on the partition the Java-compatible kafkajs partitioner picks', () => {
    const kafkajsPartition = kafkajs.Partitioners.DefaultPartitioner();
    for (const partitions of [1, 6, 7, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1 }));
      for (let i = 0; i < 500; i++) {
        const key = i % 3 ? `user-${i}` : `用户-${i}-${'x'.repeat(i % 5)}`;
        expect(partitionOf(Buffer.from(key), partitions)).toBe(
          kafkajsPartition({ topic: 't', partitionMetadata, message: { key, value: '' } } as never),
        );
      }
    }
  });

  it.each([
    [0, [0]],
    [-1, [1]],
    [1, [2]],
    [63, [126]],
    [64, [128, 1]],
    [-65, [129, 1]],
    [300, [216, 4]],
    [2 ** 31 - 1, [254, 255, 255, 255, 15]],
  ])('writes %i as the zigzag varint %j', (v, bytes) => {
    expect([...new Writer(1).varint(v).done()]).toEqual(bytes);
  });

  it('lays out a record batch: header fields, the CRC over attributes onwards, then the records', () => {
    const batch = recordBatch(
      [
        { key: Buffer.from('k'), value: Buffer.from('v1') },
        { key: null, value: Buffer.from('v2') },
      ],
      { producerId: 42n, producerEpoch: 3, baseSequence: 7 },
      'none',
      1_700_000_000_000,
    );
    const r = new Reader(batch);
    expect([r.i64(), r.i32(), r.i32(), r.i8()]).toEqual([0n, batch.length - 12, -1, 2]);
    expect(batch.readUInt32BE(17)).toBe(crc32c(batch.subarray(21)));
    r.at = 21;
    expect([r.i16(), r.i32(), r.i64(), r.i64(), r.i64(), r.i16(), r.i32(), r.i32()]).toEqual([
      0,
      1,
      1_700_000_000_000n,
      1_700_000_000_000n,
      42n,
      3,
      7,
      2,
    ]);
    // length 9 (zigzag 18), attributes, timestamp delta, offset delta 0, key length 1 (2), 'k', value length 2 (4), 'v1', no headers
    expect([...batch.subarray(61, 61 + 10)]).toEqual([18, 0, 0, 0, 2, 0x6b, 4, 0x76, 0x31, 0]);
  });
});
