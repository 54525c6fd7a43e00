// Whether a key-value store left on disk can be trusted. kv.ts runs LMDB without fsync, which survives the
// process dying (the OS still holds every page it wrote) but not the OS going down: pages it had not flushed
// yet can leave the file torn. So a mark beside the store says "open in boot <id>" or "closed" (synced).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';

const MARK = 'boot-mark';

/** The current boot's id: the kernel's, else the boot time to the minute (platforms without /proc). */
export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `up-${Math.round((Date.now() / 1000 - uptime()) / 60)}`;
  }
}

/**
 * What the files in `dir` are worth: 'empty' (no store), 'trusted' (closed cleanly, or left open in this
 * boot: a killed process loses nothing the OS holds), or 'untrusted' (left open in an earlier boot, or
 * a store without its mark).
 */
export function readBootMark(dir: string, bootId: string, dataFile: string): 'empty' | 'trusted' | 'untrusted' {
  const mark = join(dir, MARK);
  if (!existsSync(mark)) return existsSync(join(dir, dataFile)) ? 'untrusted' : 'empty';
  const text = readFileSync(mark, 'utf8');
  return text === 'closed' || text === `open ${bootId}` ? 'trusted' : 'untrusted';
}

/** Writes the mark durably (renamed into place, then the directory synced). */
export function writeBootMark(dir: string, state: { open: string } | 'closed'): void {
  const tmp = join(dir, `${MARK}.tmp`);
  writeFileSync(tmp, state === 'closed' ? 'closed' : `open ${state.open}`);
  syncPath(tmp);
  renameSync(tmp, join(dir, MARK));
  syncPath(dir);
}

/** fsync of a file or a directory. */
export function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
