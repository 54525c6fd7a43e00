import { describe, expect, it } from 'vitest';
import { fundingTransfer } from './earnings.js';
import { fen } from '../common/money.js';
import { accountKey, legacyKey, type Account } from './ledger.js';
import { payoutRequest, thresholdRequests, userAccount } from './payout-requests.js';

function accounts(users: Record<string, { available: bigint; held: bigint; everHeld?: bigint }>) {
  const map = new Map<string, Account>();
  for (const [u, b] of Object.entries(users)) {
    const a = userAccount('user_available', u, 'CNY');
    const h = userAccount('user_held', u, 'CNY');
    map.set(accountKey(a), { ...a, id: `${u}a`, debits: 0n, credits: b.available });
    map.set(accountKey(h), {
      ...h,
      id: `${u}h`,
      debits: (b.everHeld ?? b.held) - b.held,
      credits: b.everHeld ?? b.held,
    });
  }
  return map;
}

describe('thresholdRequests', () => {
  const state = (linked: string[], users: Parameters<typeof accounts>[0]) => ({
    accounts: accounts(users),
    linked: new Set(linked),
    thresholdFen: fen(100),
    currency: 'CNY',
  });

  it('requests the whole balance of linked users at the threshold with nothing in flight', () => {
    const got = thresholdRequests(
      ['at', 'below', 'unlinked', 'busy', 'at'],
      state(['at', 'below', 'busy'], {
        at: { available: 150n, held: 0n },
        below: { available: 99n, held: 0n },
        unlinked: { available: 500n, held: 0n },
        busy: { available: 500n, held: 100n },
      }),
    );
    expect(got.map((p) => [p.person, p.amountFen])).toEqual([['at', 150n]]);
  });

  it('names the same payout when triggered twice, and a new one after the previous payout', () => {
    const first = thresholdRequests(['u'], state(['u'], { u: { available: 150n, held: 0n } }));
    const again = thresholdRequests(['u'], state(['u'], { u: { available: 150n, held: 0n } }));
    const later = thresholdRequests(['u'], state(['u'], { u: { available: 150n, held: 0n, everHeld: 150n } }));
    expect(again[0]!.payoutId).toBe(first[0]!.payoutId);
    expect(later[0]!.payoutId).not.toBe(first[0]!.payoutId);
    expect(payoutRequest('u', fen(1), 'CNY', 'withdrawal', 'k').payoutId).toBe(
      payoutRequest('u', fen(2), 'CNY', 'withdrawal', 'k').payoutId,
    );
  });
});

describe('idempotency keys', () => {
  it.each([
    ['a user id with ":" against a key with ":"', ['a:b', 'c'], ['a', 'b:c']],
    ['a trailing ":" against a leading one', ['a:', 'b'], ['a', ':b']],
    ['a user id that looks like the old form', ['withdrawal:a', 'b'], ['withdrawal', 'a:b']],
    ['quotes and commas', ['a","b', 'c'], ['a', 'b","c']],
  ])('keeps two requests apart: %s', (_name, [userA, keyA], [userB, keyB]) => {
    const [a, b] = [
      payoutRequest(userA!, fen(100), 'CNY', 'withdrawal', keyA!),
      payoutRequest(userB!, fen(100), 'CNY', 'withdrawal', keyB!),
    ];
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
    expect(a.payoutId).not.toBe(b.payoutId);
    expect(fundingTransfer(userA!, fen(1), keyA!, 'CNY').key).not.toBe(
      fundingTransfer(userB!, fen(1), keyB!, 'CNY').key,
    );
  });

  it("keeps two apps' users of one id apart", () => {
    const [a, b] = [
      payoutRequest('app.a:u1', fen(100), 'CNY', 'withdrawal', 'k'),
      payoutRequest('app.b:u1', fen(100), 'CNY', 'withdrawal', 'k'),
    ];
    expect(a.payoutId).not.toBe(b.payoutId);
  });

  it('never reads like a key of the old form', () => {
    expect(payoutRequest('a', fen(1), 'CNY', 'withdrawal', 'b:c').idempotencyKey).toBe('["withdrawal","a","b:c"]');
    expect(legacyKey('withdrawal', 'a', 'b:c')).toBe('withdrawal:a:b:c');
  });
});
