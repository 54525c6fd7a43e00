// The S2S endpoints' pipeline (CONTRACTS.md §7): verify the callback, then one pipeline.v1.Confirmation
// on the confirmations topic (key user_id) through the collector's bounded produce queue, and 200 only
// once Kafka acknowledged it (acks=all). A retried callback is recorded again; the aggregator dedupes.
import { pipeline } from '../schemas/gen/messages.js';
import type { AdUnit } from './ad-unit.js';
import type { AdmobKeyLookup } from './admob-keys.js';
import { verifyAdmob } from './admob-verify.js';
import type { BeaconResponse } from './collector.js';
import { verifyNetwork, type NetworkSecret } from './network-verify.js';
import { verifyPostback, type CampaignSecret } from './postback-verify.js';
import type { ProduceQueue } from './produce-queue.js';

/** The metric's source label: bounded, never the network name a URL carries. */
export type SourceLabel = 'admob' | 'hmac' | 'postback';
export interface ConfirmationMetrics {
  confirmation(source: SourceLabel, outcome: string): void;
}

export interface S2sKeys {
  adUnit(network: string, adUnit: string): AdUnit | undefined;
  networkSecrets(network: string, appId: string): NetworkSecret[];
  campaign(campaignId: string): CampaignSecret | undefined;
}

export interface ConfirmationDeps {
  admobKeys: AdmobKeyLookup;
  keys: S2sKeys;
  queue: Pick<ProduceQueue, 'enqueue'>;
  metrics: ConfirmationMetrics;
  now(): number;
}

export interface PostbackRequest {
  contentType: string;
  signature: string;
  body: Uint8Array;
}

const RETRY_AFTER_S = 2;
const recorded: BeaconResponse = { status: 200, body: { status: 'recorded' } };

export function createConfirmations(config: { topic: string; signatureToleranceMs: number }, deps: ConfirmationDeps) {
  async function record(c: pipeline.v1.Confirmation.$Properties): Promise<BeaconResponse> {
    const queued = deps.queue.enqueue([
      { topic: config.topic, key: c.userId!, events: 1, value: pipeline.v1.Confirmation.encode(c).finish() },
    ]);
    if (!queued.ok) {
      return fail(
        503,
        queued.reason,
        queued.reason === 'queue_full'
          ? 'the collector is at capacity; retry later'
          : 'the event broker is unavailable; retry later',
        RETRY_AFTER_S,
      );
    }
    try {
      await queued.acked;
    } catch {
      return fail(
        503,
        'broker_unavailable',
        'the event broker did not acknowledge the confirmation; retry later',
        RETRY_AFTER_S,
      );
    }
    return recorded;
  }

  async function counted(source: SourceLabel, answer: Promise<BeaconResponse>): Promise<BeaconResponse> {
    const res = await answer;
    deps.metrics.confirmation(source, res.status === 200 ? 'recorded' : String(res.body.error));
    return res;
  }

  return {
    admob: (query: string) =>
      counted(
        'admob',
        (async () => {
          const receivedAt = deps.now();
          const v = await verifyAdmob(query, {
            keys: deps.admobKeys,
            adUnit: (unit) => deps.keys.adUnit('admob', unit),
          });
          if (!v.ok) return refusal(v);
          const c = v.value;
          return record({
            version: 1,
            source: 'admob',
            transactionId: c.transactionId,
            appId: c.appId,
            userId: c.userId,
            campaignId: c.campaignId,
            eventId: c.eventId,
            receivedAt,
            occurredAt: c.occurredAt,
            keyId: c.keyId,
            adUnit: c.adUnit,
            rewardItem: c.rewardItem,
            rewardAmount: c.rewardAmount,
          });
        })(),
      ),

    network: (network: string, query: string) =>
      counted(
        'hmac',
        (async () => {
          const receivedAt = deps.now();
          const v = verifyNetwork(network, query, { secrets: deps.keys.networkSecrets, adUnit: deps.keys.adUnit });
          if (!v.ok) return refusal(v);
          const c = v.value;
          return record({
            version: 1,
            source: network,
            transactionId: c.transactionId,
            appId: c.appId,
            userId: c.userId,
            campaignId: c.campaignId,
            eventId: c.eventId,
            receivedAt,
            occurredAt: c.occurredAt,
            keyId: c.keyId,
            adUnit: c.adUnit,
            rewardItem: c.rewardItem,
            rewardAmount: c.rewardAmount,
          });
        })(),
      ),

    postback: (req: PostbackRequest) =>
      counted(
        'postback',
        (async () => {
          const receivedAt = deps.now();
          const v = verifyPostback(req, receivedAt, config.signatureToleranceMs, { campaign: deps.keys.campaign });
          if (!v.ok) return refusal(v);
          const c = v.value;
          return record({
            version: 1,
            source: 'postback',
            transactionId: `${c.campaignId}:${c.eventId || c.clickId}`,
            appId: c.appId,
            userId: c.userId,
            campaignId: c.campaignId,
            eventId: c.eventId,
            clickId: c.clickId,
            receivedAt,
            occurredAt: c.occurredAt,
            valueMicros: c.valueMicros,
            currency: c.currency,
          });
        })(),
      ),
  };
}
export type Confirmations = ReturnType<typeof createConfirmations>;

function fail(status: number, error: string, message: string, retryAfterS?: number): BeaconResponse {
  return { status, body: { error, message }, ...(retryAfterS ? { retryAfterS } : {}) };
}
const refusal = (r: { status: number; error: string; message: string }) =>
  fail(r.status, r.error, r.message, r.status === 503 ? RETRY_AFTER_S : undefined);
