// What a verified reward callback confirms for: the app and the campaign of the ad unit it names, as
// registered here (`npm run apps -- ad-unit`, migration 0011), never what the client chose. Without
// the campaign, a real watch could be claimed by a better-paying campaign of the same app.

/**
 * A registered ad unit; campaignId null: registered before migration 0011. Its callbacks are answered
 * 503 (the network retries) until an operator binds it to a campaign: the watch is real, only our
 * configuration is missing, and a 4xx would make the network give up on the user's reward.
 */
export interface AdUnit {
  appId: string;
  campaignId: string | null;
}

export type BoundUnit =
  | { ok: true; appId: string; campaignId: string }
  | { ok: false; status: 400 | 403 | 503; error: string; message: string };

/**
 * The app and campaign a verified callback naming ad unit `name` confirms for. `signedAppId`: the
 * app an HMAC network signed, which the unit must be registered to (AdMob's unit alone names its app).
 */
export function boundUnit(name: string, unit: AdUnit | undefined, signedAppId?: string): BoundUnit {
  if (!name || name.length > 128)
    return { ok: false, status: 400, error: 'invalid_ad_unit', message: 'ad_unit: must be 1..128 characters' };
  if (!unit || (signedAppId !== undefined && unit.appId !== signedAppId)) {
    const of = signedAppId === undefined ? 'an app' : `app ${signedAppId}`;
    return {
      ok: false,
      status: 403,
      error: 'unknown_ad_unit',
      message: `ad unit "${name}" is not registered to ${of}`,
    };
  }
  if (!unit.campaignId) {
    return {
      ok: false,
      status: 503,
      error: 'ad_unit_without_campaign',
      message: `ad unit "${name}" has no campaign yet (npm run apps -- ad-unit binds it); retry later`,
    };
  }
  return { ok: true, appId: unit.appId, campaignId: unit.campaignId };
}
