// The sandbox's journal: one JSON line per change, either a money movement or the latest state of a
// request it accepted (a v3 batch, a transfer bill, a v2 transfer, an order, a refund) or a callback
// it still owes. A restarted sandbox reads it back, so it has its balance and bills, answers a
// repeated request number with the first answer, and finishes what was in flight, as WeChat does.
// Without a file, everything stays in memory. Opening compacts the file: a record's earlier states
// and dropped records go, every money movement stays.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type RecordKind = 'batch' | 'bill' | 'v2' | 'callback' | 'authorization' | 'order' | 'refund';
/** A record's value null: the record was dropped. */
type Entry = { kind: 'flow'; flow: unknown } | { kind: RecordKind; id: string; value: unknown };

/** The entries of a journal file; a torn last line (the process died while writing it) is dropped. */
function read(file: string): Entry[] {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return lines.flatMap((line, i) => {
    try {
      return [JSON.parse(line) as Entry];
    } catch (err) {
      if (i === lines.length - 1) return [];
      throw new Error(`${file}: line ${i + 1} is not JSON`, { cause: err });
    }
  });
}

/** The money movements in order, then each record's latest state unless dropped; the same reading as `entries`. */
function compacted(entries: Entry[]): Entry[] {
  const latest = new Map<string, Entry>();
  for (const e of entries) {
    if (e.kind === 'flow') continue;
    if (e.value === null) latest.delete(`${e.kind}:${e.id}`);
    else latest.set(`${e.kind}:${e.id}`, e);
  }
  return [...entries.filter((e) => e.kind === 'flow'), ...latest.values()];
}

export function openJournal(file: string | undefined) {
  let entries = file && existsSync(file) ? read(file) : [];
  if (file && entries.length > 0) {
    entries = compacted(entries);
    // Written aside and renamed over the journal, so a crash leaves either file whole.
    writeFileSync(`${file}.tmp`, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    renameSync(`${file}.tmp`, file);
  }
  const append = (entry: Entry) => {
    if (file) appendFileSync(file, `${JSON.stringify(entry)}\n`);
  };
  return {
    /** The money movements, oldest first. */
    flows: <T>() => entries.flatMap((e) => (e.kind === 'flow' ? [e.flow as T] : [])),
    addFlow: (flow: unknown) => append({ kind: 'flow', flow }),
    /**
     * The records of `kind` by id, as last saved; `save`, which journals a record's current state
     * (call it after each change); and `drop`, which forgets a record that is done with. The map
     * is the module's own state from then on.
     */
    records<T>(kind: RecordKind) {
      const records = new Map<string, T>();
      for (const e of entries) if (e.kind === kind) records.set(e.id, e.value as T); // compacted: none dropped
      return {
        records,
        save: (id: string, value: T) => append({ kind, id, value }),
        drop: (id: string) => append({ kind, id, value: null }),
      };
    },
  };
}
export type Journal = ReturnType<typeof openJournal>;
