// A queue's store in Node: one journal file holding `+<event JSON>` for each stored event and
// `-<event id>` for each removed one, appended in order. Once removals outnumber the live events it
// is rewritten to hold only those (a temporary file, then a rename). A process that dies loses
// nothing already appended; a line cut by the death is skipped when the file is read again. A
// failed write (a full disk) fails only its own call, and may leave a cut line too: the writes
// after it go on, and the next starts on a line of its own.
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import type { QueueStorage } from './queue.js';

/** A stored event, or undefined for the line a crash cut short. */
function parsed(json: string): BeaconEvent | undefined {
  try {
    return JSON.parse(json) as BeaconEvent;
  } catch {
    return undefined;
  }
}

export function fileStorage(path: string): QueueStorage {
  const live = new Map<string, BeaconEvent>();
  let removed = 0;
  let cut = false; // the journal may end inside a line
  let writes = Promise.resolve();
  /** Runs `work` after every write asked before it, so the journal keeps their order. */
  function serially(work: () => Promise<void>): Promise<void> {
    const done = writes.then(work);
    writes = done.catch(() => undefined);
    return done;
  }
  /** Appends whole lines, after a newline if a crash or a failed write may have cut the last one. */
  async function append(lines: string[]) {
    try {
      await appendFile(path, (cut ? '\n' : '') + lines.join(''));
      cut = false;
    } catch (err) {
      cut = true;
      throw err;
    }
  }

  const loaded = readFile(path, 'utf8').then(
    (text) => {
      for (const line of text.split('\n')) {
        if (line[0] === '-' && live.delete(line.slice(1))) removed++;
        const e = line[0] === '+' ? parsed(line.slice(1)) : undefined;
        if (e) live.set(e.eventId!, e);
      }
      cut = text !== '' && !text.endsWith('\n');
    },
    async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(dirname(path), { recursive: true });
    },
  );

  function compact() {
    const tmp = `${path}.tmp`;
    const text = [...live.values()].map((e) => `+${JSON.stringify(e)}\n`).join('');
    removed = 0;
    return writeFile(tmp, text)
      .then(() => rename(tmp, path))
      .then(() => void (cut = false));
  }

  return {
    async all() {
      await loaded;
      return [...live.values()];
    },
    async add(events) {
      await loaded;
      for (const e of events) live.set(e.eventId!, e);
      await serially(() => append(events.map((e) => `+${JSON.stringify(e)}\n`)));
    },
    async remove(ids) {
      await loaded;
      const gone = ids.filter((id) => live.delete(id));
      if (!gone.length) return;
      removed += gone.length;
      await serially(() => (removed > 64 && removed > live.size ? compact() : append(gone.map((id) => `-${id}\n`))));
    },
  };
}
