// Reads a record of the earnings topic (pipeline.v1.VerifiedEarning). A record that cannot be read is
// poison: it goes to the dead-letter topic with the reason and never blocks the partition.
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import type { Earning } from './earnings.js';
import { isUuid } from '../common/name-uuid.js';
import { isAppId } from '../common/person.js';
import { firstUnstorable } from '../common/storable-text.js';
import { earningId } from '../schemas/records.js';

const SUPPORTED_VERSION = 1;
const FLAG = /^[a-z0-9_]{1,64}$/;

export type ReadEarning = { ok: true; earning: Earning } | { ok: false; reason: string };

export function readEarning(value: Buffer | null): ReadEarning {
  if (!value) return { ok: false, reason: 'empty_value' };
  let r: pipeline.v1.VerifiedEarning;
  try {
    r = pipeline.v1.VerifiedEarning.decode(value);
  } catch (err) {
    return { ok: false, reason: `undecodable: ${(err as Error).message}` };
  }
  if (r.version !== SUPPORTED_VERSION) return { ok: false, reason: `unknown_version: ${r.version}` };
  if (!isUuid(r.sourceEventId)) return { ok: false, reason: 'invalid_id' };
  const sourceEventId = r.sourceEventId.toLowerCase();
  // The ledger knows an earning by its source event, so the earning's id must be the one derived from it.
  const id = earningId(sourceEventId);
  if (r.earningId.toLowerCase() !== id)
    return { ok: false, reason: 'invalid_id: earning_id is not derived from source_event_id' };
  if (!r.userId || !r.campaignId || !r.appId)
    return { ok: false, reason: 'missing_field: user_id, campaign_id or app_id' };
  // The person is `<app_id>:<user_id>`: an app id with a ':' would make it name someone else.
  if (!isAppId(r.appId)) return { ok: false, reason: 'invalid_app_id' };
  // Postgres would refuse the whole step over one of these (NUL) or store another value (a lone surrogate).
  const unstorable = firstUnstorable({
    user_id: r.userId,
    campaign_id: r.campaignId,
    app_id: r.appId,
    device_id: r.deviceId,
    confirmation: r.confirmation,
  });
  if (unstorable) return { ok: false, reason: `invalid_text: ${unstorable}` };
  // Flags are stored space-separated (earnings.user_flags): a reason is one plain word.
  if (r.userFlags.some((f) => !FLAG.test(f))) return { ok: false, reason: 'invalid_flag' };
  if (r.type !== EventType.REWARD_COMPLETE && r.type !== EventType.CONVERSION)
    return { ok: false, reason: `not_rewardable: type ${r.type}` };
  const eventTime = Number(r.eventTime);
  const verifiedAt = Number(r.verifiedAt);
  if (!(eventTime > 0) || !(verifiedAt > 0)) return { ok: false, reason: 'missing_field: event_time or verified_at' };
  // A record without a confirmation is read (and refused as 'unconfirmed' in the ledger's record),
  // not dead-lettered: the refusal is an outcome to count and audit, not a fault.
  return {
    ok: true,
    earning: {
      earningId: id,
      sourceEventId,
      appId: r.appId,
      userId: r.userId,
      campaignId: r.campaignId,
      type: r.type === EventType.CONVERSION ? 'CONVERSION' : 'REWARD_COMPLETE',
      eventTime,
      verifiedAt,
      deviceId: r.deviceId,
      receivedAt: Number(r.receivedAt),
      confirmation: r.confirmation,
      confirmedAt: Number(r.confirmedAt),
      userFlags: r.userFlags,
    },
  };
}
