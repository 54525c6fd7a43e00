// Test helper for kv.test.ts: writes to a key-value store and prints each batch once it resolved, until
// the test SIGKILLs it. Batch i puts `b:<i>:<j>` for j < perBatch and sets meta `seq` to i in the same
// write, so the store on reopen shows whether every batch is whole or absent.
// Usage: node --import tsx kv-crash-child.ts <dir> once|stream <perBatch>
import { openKv } from './kv.js';

const [dir, mode, perBatch] = process.argv.slice(2);
const kv = openKv({ dir: dir! });
const value = Buffer.alloc(300, 7);
for (let i = 0; mode === 'stream' || i === 0; i++) {
  const puts = Array.from({ length: Number(perBatch) }, (_, j) => ({
    key: `b:${i}:${j}`,
    value,
    expiresAt: Date.now() + 3_600_000,
  }));
  await kv.write({ puts, meta: [{ key: 'seq', value: Buffer.from(String(i)) }] });
  process.stdout.write(`${i}\n`);
}
setInterval(() => {}, 60_000); // wait for the kill
