// The append-only log of the claims not yet in a run: one record per add(), written with one write()
// before add() returns, so a SIGKILL loses nothing that add() acknowledged. A torn last record (the
// process died inside the write) fails its length or checksum and is dropped on reopen.
//
// Record (little-endian): u32 count | f64 seq | f64 at | count × 16-byte keys (permuted) | u32 crc32 of
// all before it. A record with count 0 still carries its seq (and starts each new log: the seq so far).
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { PipelineError } from '../../common/errors.js';

const HEAD = 20;

export const logFileName = (gen: number) => `log-${gen}.bin`;

/** A record with room for `count` keys: fill `keys` (word-aligned), then `seal` it. */
export function newRecord(
  count: number,
  seq: number,
  at: number,
): { bytes: Buffer; keys: Uint32Array; seal(): Buffer } {
  const ab = new ArrayBuffer(HEAD + count * 16 + 4);
  const bytes = Buffer.from(ab);
  bytes.writeUInt32LE(count, 0);
  bytes.writeDoubleLE(seq, 4);
  bytes.writeDoubleLE(at, 12);
  const keys = new Uint32Array(ab, HEAD, count * 4);
  return {
    bytes,
    keys,
    seal: () => {
      bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
      return bytes;
    },
  };
}

export interface LogRecord {
  seq: number;
  at: number;
  keys: Uint32Array;
}

/** The whole records of a log's bytes, and how many bytes they take (the rest is a torn tail). */
export function parseLog(bytes: Buffer): { records: LogRecord[]; goodBytes: number } {
  const records: LogRecord[] = [];
  let at = 0;
  while (bytes.length - at >= HEAD + 4) {
    const count = bytes.readUInt32LE(at);
    const len = HEAD + count * 16 + 4;
    if (len > bytes.length - at) break;
    if (crc32(bytes.subarray(at, at + len - 4)) !== bytes.readUInt32LE(at + len - 4)) break;
    const keys = new Uint32Array(count * 4);
    Buffer.from(keys.buffer).set(bytes.subarray(at + HEAD, at + HEAD + count * 16));
    records.push({ seq: bytes.readDoubleLE(at + 4), at: bytes.readDoubleLE(at + 12), keys });
    at += len;
  }
  return { records, goodBytes: at };
}

/** Reads a log and cuts off its torn tail, so later appends follow its last whole record. */
export function readLog(path: string): { records: LogRecord[]; tornBytes: number; size: number } {
  const bytes = readFileSync(path);
  const { records, goodBytes } = parseLog(bytes);
  if (goodBytes < bytes.length) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, goodBytes);
    } finally {
      closeSync(fd);
    }
  }
  return { records, tornBytes: bytes.length - goodBytes, size: goodBytes };
}

/** Appends records to the log at `path`; a failed write is cut back off, so the log stays whole. */
export function openLogWriter(path: string) {
  const fd = openSync(path, 'a');
  let size = fstatSync(fd).size;
  return {
    get size() {
      return size;
    },
    append(record: Buffer): void {
      try {
        for (let done = 0; done < record.length;) done += writeSync(fd, record, done, record.length - done);
      } catch (err) {
        try {
          ftruncateSync(fd, size);
        } catch {
          // the reopen drops the torn record anyway
        }
        throw new PipelineError('claims_log_write_failed', `claims log ${path}: ${(err as Error).message}`, {
          retriable: true,
          cause: err,
        });
      }
      size += record.length;
    },
    close(): void {
      closeSync(fd);
    },
  };
}
export type LogWriter = ReturnType<typeof openLogWriter>;
