// The proto3 JSON mapping of BeaconBatch (CONTRACTS.md §1): lowerCamelCase or original snake_case
// names, int64 as a number or a decimal string, enums by name or number, null meaning "default".
// A batch-level mapping error rejects the whole body; an event-level one rejects only that event.
// The encoder is beacon-wire.ts's encodeBatchJson.
import { beacon } from './gen/messages.js';

export type EventType = beacon.v1.EventType;
export const EventType = beacon.v1.EventType;
export type BeaconEvent = beacon.v1.Event.$Properties;
export interface BeaconBatchJson {
  appId: string;
  sdk: string;
  sentAt: number;
  /** null where the event could not be mapped; its reason is in `rejected` at the same index. */
  events: (BeaconEvent | null)[];
  rejected: { index: number; reason: string }[];
}

export class JsonMappingError extends Error {}

type Kind = 'string' | 'int64' | 'enum' | 'map' | 'events';
interface Field {
  proto: string;
  json: string;
  kind: Kind;
}

const field = (proto: string, kind: Kind): Field => ({
  proto,
  json: proto.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
  kind,
});

const batchFields = [
  field('app_id', 'string'),
  field('sdk', 'string'),
  field('sent_at', 'int64'),
  field('events', 'events'),
];
const eventFields = [
  field('event_id', 'string'),
  field('type', 'enum'),
  field('occurred_at', 'int64'),
  field('user_id', 'string'),
  field('device_id', 'string'),
  field('campaign_id', 'string'),
  field('creative_id', 'string'),
  field('placement_id', 'string'),
  field('click_id', 'string'),
  field('value_micros', 'int64'),
  field('currency', 'string'),
  field('attrs', 'map'),
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function int64(v: unknown, name: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new JsonMappingError(`${name}: expected an integer`);
  if (!Number.isSafeInteger(n)) throw new JsonMappingError(`${name}: out of range`);
  return n;
}

function enumValue(v: unknown, name: string): EventType {
  if (typeof v === 'number' && Number.isInteger(v)) return v as EventType;
  if (typeof v === 'string' && v in EventType && typeof EventType[v as keyof typeof EventType] === 'number') {
    return EventType[v as keyof typeof EventType];
  }
  throw new JsonMappingError(`${name}: unknown event type ${JSON.stringify(v)}`);
}

function stringMap(v: unknown, name: string): Record<string, string> {
  if (!isObject(v)) throw new JsonMappingError(`${name}: expected an object`);
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') throw new JsonMappingError(`${name}.${k}: expected a string`);
  }
  return v as Record<string, string>;
}

/** Maps one JSON object onto `fields`, accepting either name of each field; unknown names are errors. */
function mapObject(obj: Record<string, unknown>, fields: Field[], convert: (f: Field, v: unknown) => unknown) {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(obj)) {
    const f = fields.find((x) => x.json === key || x.proto === key);
    if (!f) throw new JsonMappingError(`unknown field "${key}"`);
    if (seen.has(f.json)) throw new JsonMappingError(`field "${f.proto}" given twice`);
    seen.add(f.json);
    if (value !== null) out[f.json] = convert(f, value);
  }
  return out;
}

function convertScalar(f: Field, v: unknown): unknown {
  switch (f.kind) {
    case 'string':
      if (typeof v !== 'string') throw new JsonMappingError(`${f.proto}: expected a string`);
      return v;
    case 'int64':
      return int64(v, f.proto);
    case 'enum':
      return enumValue(v, f.proto);
    case 'map':
      return stringMap(v, f.proto);
    case 'events':
      return v; // mapped one by one by the caller
  }
}

export function decodeBeaconBatchJson(text: string): BeaconBatchJson {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new JsonMappingError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new JsonMappingError('body must be a JSON object');
  const top = mapObject(doc, batchFields, convertScalar);
  const rawEvents = top.events ?? [];
  if (!Array.isArray(rawEvents)) throw new JsonMappingError('events: expected an array');
  const rejected: BeaconBatchJson['rejected'] = [];
  const events = rawEvents.map((raw: unknown, index) => {
    try {
      if (!isObject(raw)) throw new JsonMappingError('expected an object');
      return mapObject(raw, eventFields, convertScalar) as BeaconEvent;
    } catch (err) {
      if (!(err instanceof JsonMappingError)) throw err;
      rejected.push({ index, reason: err.message });
      return null;
    }
  });
  return {
    appId: (top.appId as string | undefined) ?? '',
    sdk: (top.sdk as string | undefined) ?? '',
    sentAt: (top.sentAt as number | undefined) ?? 0,
    events,
    rejected,
  };
}
