// Who money belongs to (CONTRACTS.md §8): a person is the pair (app_id, user_id), so two apps' "u1"
// are two people. Rewards and payouts key money and identity by one text, `<app_id>:<user_id>`: an
// app id cannot hold ':', so the first ':' splits it. Formed and parsed here only.
import { unstorable } from './storable-text.js';

export interface Person {
  appId: string;
  userId: string;
}

/** An app id as 0001_apps.sql allows it: 1..64 of [A-Za-z0-9_.-] (never ':'). */
export const isAppId = (s: string): boolean => /^[A-Za-z0-9_.-]{1,64}$/.test(s);

/** A user id as the APIs take it: 1..64 characters, none of them '/', NUL or a lone surrogate. */
export const isUserId = (s: string): boolean =>
  s.length >= 1 && s.length <= 64 && !s.includes('/') && unstorable(s) === undefined;

/** The person's key: ledger account owner, earnings, WeChat links, payouts, idempotency keys. */
export const personKey = (p: Person): string => `${p.appId}:${p.userId}`;

/** The person a key names, or undefined when it is not one (no ':', or an app id that cannot be). */
export function parsePerson(key: string): Person | undefined {
  const at = key.indexOf(':');
  if (at < 0) return undefined;
  const appId = key.slice(0, at);
  return isAppId(appId) ? { appId, userId: key.slice(at + 1) } : undefined;
}
