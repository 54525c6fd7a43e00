import { describe, expect, it } from 'vitest';
import { fen } from '../common/money.js';
import { accountKey, balanceOf, planTransfers, type Account, type AccountRef, type Transfer } from './ledger.js';

const budget: AccountRef = { type: 'campaign_budget', owner: 'c1', currency: 'CNY' };
const available: AccountRef = { type: 'user_available', owner: 'u1', currency: 'CNY' };
const funding: AccountRef = { type: 'advertiser_funding', owner: '', currency: 'CNY' };

function accounts(budgetFen: bigint) {
  const list: Account[] = [
    { ...budget, id: '1', debits: 0n, credits: budgetFen },
    { ...available, id: '2', debits: 0n, credits: 0n },
    { ...funding, id: '3', debits: budgetFen, credits: 0n },
  ];
  return new Map(list.map((a) => [accountKey(a), a]));
}
const pay = (key: string, amount: number, over: Partial<Transfer> = {}): Transfer => ({
  key,
  kind: 'earning',
  reference: key,
  postings: [
    { account: budget, side: 'debit', amount: fen(amount) },
    { account: available, side: 'credit', amount: fen(amount) },
  ],
  ...over,
});

describe('planTransfers', () => {
  it.each([
    ['creates a transfer the budget covers', [pay('a', 60)], ['created'], 40n],
    [
      'refuses a transfer that would overdraw the budget, and lets a later one that fits pass',
      [pay('a', 60), pay('b', 50), pay('c', 40)],
      ['created', 'exceeds_balance', 'created'],
      0n,
    ],
    ['answers exists for the same key and content', [pay('a', 10), pay('a', 10)], ['created', 'exists'], 90n],
    [
      'answers exists_with_different_content for the same key and other content',
      [pay('a', 10), pay('a', 11)],
      ['created', 'exists_with_different_content'],
      90n,
    ],
    [
      'refuses an unbalanced transfer',
      [
        pay('a', 10, {
          postings: [
            { account: budget, side: 'debit', amount: fen(10) },
            { account: available, side: 'credit', amount: fen(9) },
          ],
        }),
      ],
      ['invalid'],
      100n,
    ],
    [
      'refuses a single posting',
      [pay('a', 10, { postings: [{ account: budget, side: 'debit', amount: fen(10) }] })],
      ['invalid'],
      100n,
    ],
    ['refuses a zero amount', [pay('a', 0)], ['invalid'], 100n],
  ])('%s', (_name, transfers, statuses, budgetAfter) => {
    const state = { accounts: accounts(100n), existing: new Map() };
    expect(planTransfers(transfers, state).map((r) => r.status)).toEqual(statuses);
    expect(balanceOf(state.accounts.get(accountKey(budget))!)).toBe(budgetAfter);
  });

  it('lets a debit-normal account without an overdraft rule go negative', () => {
    const state = { accounts: accounts(0n), existing: new Map() };
    const fund: Transfer = {
      key: 'f',
      kind: 'fund',
      reference: 'f',
      postings: [
        { account: funding, side: 'debit', amount: fen(5) },
        { account: budget, side: 'credit', amount: fen(5) },
      ],
    };
    expect(planTransfers([fund], state)[0]!.status).toBe('created');
    expect(balanceOf(state.accounts.get(accountKey(budget))!)).toBe(5n);
  });
});
