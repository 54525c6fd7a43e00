import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openJournal } from './journal.js';

describe('the sandbox journal', () => {
  it('keeps every money movement and only the latest state of each record not dropped, when reopened', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'journal-')), 'journal.jsonl');
    const first = openJournal(file);
    const bills = first.records<{ state: string }>('bill');
    first.addFlow({ fen: -100 });
    for (const state of ['ACCEPTED', 'PROCESSING', 'SUCCESS']) bills.save('b1', { state });
    bills.save('b2', { state: 'ACCEPTED' });
    first.addFlow({ fen: -200 });
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(6);

    const second = openJournal(file);
    expect(second.flows()).toEqual([{ fen: -100 }, { fen: -200 }]);
    expect([...second.records<{ state: string }>('bill').records]).toEqual([
      ['b1', { state: 'SUCCESS' }],
      ['b2', { state: 'ACCEPTED' }],
    ]);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(4);
    const secondBills = second.records<{ state: string }>('bill');
    secondBills.save('b2', { state: 'SUCCESS' });
    secondBills.drop('b1');
    expect([...openJournal(file).records<{ state: string }>('bill').records]).toEqual([['b2', { state: 'SUCCESS' }]]);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3); // the dropped record is gone
  });
});
