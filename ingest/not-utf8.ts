// Names the string of an encoded Event that is not UTF-8, for the reason its event is rejected. It
// runs only after the generated decoder refused the event (it reads strings strictly), so it is off
// the hot path and may read the event twice.
import { isUtf8 } from 'node:buffer';
import $protobuf from 'protobufjs/minimal.js';

// Event's string fields (schemas/beacon.proto). Field 12 is the attrs map: entries of key 1, value 2.
const STRINGS: Record<number, string> = {
  1: 'event_id',
  4: 'user_id',
  5: 'device_id',
  6: 'campaign_id',
  7: 'creative_id',
  8: 'placement_id',
  9: 'click_id',
  11: 'currency',
};
const ATTRS = 12;
const ENTRY: Record<number, string> = { 1: 'key', 2: 'value' };

/** Each length-delimited field of `message`: its number and bytes. */
function* lengthDelimited(message: Uint8Array): Generator<[number, Uint8Array]> {
  const r = $protobuf.Reader.create(message);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) !== 2) {
      r.skipType(tag & 7);
      continue;
    }
    yield [tag >>> 3, r.bytes()];
  }
}

/** `<field>: not UTF-8` for the first string of `event` that is not UTF-8; undefined if none is (or the event is malformed). */
export function notUtf8Reason(event: Uint8Array): string | undefined {
  try {
    for (const [field, bytes] of lengthDelimited(event)) {
      if (STRINGS[field] && !isUtf8(bytes)) return `${STRINGS[field]}: not UTF-8`;
      if (field !== ATTRS) continue;
      for (const [part, text] of lengthDelimited(bytes)) {
        if (ENTRY[part] && !isUtf8(text)) return `attrs: ${ENTRY[part]} not UTF-8`;
      }
    }
  } catch {
    // malformed: the decoder's own error stands
  }
  return undefined;
}
