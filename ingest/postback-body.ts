// The JSON body of a conversion postback (CONTRACTS.md §7), read strictly: an object of the known
// fields only, exactly one of event_id and click_id (canonical UUIDs), int64 as a number or a decimal
// string (as proto3 JSON), and no text a store cannot hold.
import { isUuid } from '../common/name-uuid.js';
import type { Problem } from './s2s-query.js';
import { textProblem } from './text-problem.js';

export interface PostbackFields {
  campaignId: string;
  eventId: string;
  clickId: string;
  userId: string;
  valueMicros: number;
  currency: string;
  occurredAt: number;
}

const FIELDS = new Set(['campaign_id', 'event_id', 'click_id', 'user_id', 'value_micros', 'currency', 'occurred_at']);
const CURRENCY = /^[A-Z]{3}$/;
const INT = /^-?\d{1,19}$/;

const invalid = (field: string, message: string): Problem => ({
  ok: false,
  status: 400,
  error: `invalid_${field}`,
  message: `${field}: ${message}`,
});
const undecodable = (message: string): Problem => ({ ok: false, status: 400, error: 'undecodable_body', message });

/** A string field of 1..max characters that a store can hold, or a reason. */
function text(body: Record<string, unknown>, field: string, max: number): string | Problem {
  const v = body[field];
  if (typeof v !== 'string' || v.length < 1 || v.length > max)
    return invalid(field, `must be a string of 1..${max} characters`);
  const why = textProblem(v);
  return why ? invalid(field, why) : v;
}

/** An int64 given as a JSON number or a decimal string, within Number's exact range; null when absent. */
function integer(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && INT.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The body as a JSON object and the campaign it names, whose secret verifies it. */
export function readPostbackJson(
  json: string,
): { ok: true; body: Record<string, unknown>; campaignId: string } | Problem {
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch (err) {
    return undecodable(`not JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return undecodable('the body must be a JSON object');
  const campaignId = text(body as Record<string, unknown>, 'campaign_id', 64);
  if (typeof campaignId !== 'string') return campaignId;
  return { ok: true, body: body as Record<string, unknown>, campaignId };
}

export function postbackFields(body: Record<string, unknown>): { ok: true; fields: PostbackFields } | Problem {
  for (const name of Object.keys(body))
    if (!FIELDS.has(name)) return undecodable(`unknown field "${name.slice(0, 64)}"`);
  const has = (f: string) => body[f] !== undefined && body[f] !== null;
  if (has('event_id') === has('click_id'))
    return invalid('event_id', 'exactly one of event_id and click_id is required');
  const ref = has('event_id') ? 'event_id' : 'click_id';
  const id = body[ref];
  if (typeof id !== 'string' || !isUuid(id)) return invalid(ref, 'must be a canonical UUID');
  const userId = text(body, 'user_id', 64);
  if (typeof userId !== 'string') return userId;
  const currency = has('currency') ? body.currency : '';
  if (typeof currency !== 'string' || (currency !== '' && !CURRENCY.test(currency)))
    return invalid('currency', 'must be an ISO 4217 code');
  const valueMicros = integer(body.value_micros);
  if (valueMicros === undefined || (valueMicros ?? 0) < 0)
    return invalid('value_micros', 'must be a non-negative integer');
  const occurredAt = integer(body.occurred_at);
  if (!occurredAt || occurredAt <= 0) return invalid('occurred_at', 'must be a positive integer (unix ms)');
  const lower = id.toLowerCase(); // one idempotency key per UUID, as for beacons
  return {
    ok: true,
    fields: {
      campaignId: body.campaign_id as string,
      eventId: ref === 'event_id' ? lower : '',
      clickId: ref === 'click_id' ? lower : '',
      userId,
      valueMicros: valueMicros ?? 0,
      currency,
      occurredAt,
    },
  };
}
