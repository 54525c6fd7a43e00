// Person flags on the money path, on the real stack: an earning carries the invalid reasons of its
// person's earlier traffic, so the payouts' risk check sees them however late ClickHouse gets the rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import {
  acceptedRecord,
  confirmationRecord,
  createAggregatorWorld,
  testEvent,
  type AggregatorWorld,
} from './test-support.js';

const S = 1_000;
const MIN = 60 * S;
let world: AggregatorWorld;
beforeAll(async () => {
  world = await createAggregatorWorld();
});
afterAll(async () => {
  await world?.stop();
});

describe('person flags', () => {
  it("an earning carries the invalid reasons of its person's earlier events, and none for a clean person", async () => {
    const now = Date.now();
    const at = (user: string, type: Parameters<typeof testEvent>[0], time: number, over = {}) =>
      testEvent(type, time, { userId: user, deviceId: `${user}-phone`, ...over });
    const click = at('u-injector', 'CLICK', now - 10 * MIN);
    const injected = at('u-injector', 'CONVERSION', now - 10 * MIN + 3 * S, { clickId: click.id }); // 3 s after its click
    const flagged = [at('u-injector', 'IMPRESSION', now - 5 * MIN), at('u-injector', 'REWARD_COMPLETE', now - 4 * MIN)];
    const clean = [at('u-clean', 'IMPRESSION', now - 5 * MIN), at('u-clean', 'REWARD_COMPLETE', now - 4 * MIN)];

    await world.start();
    // The completion's confirmation first: the pair completes in the beacons' batch.
    await world.confirm([
      confirmationRecord(flagged[1], { campaignId: 'campaign-1' }),
      confirmationRecord(clean[1], { campaignId: 'campaign-1' }),
    ]);
    await world.drained();
    await world.send([acceptedRecord([click, injected]), acceptedRecord(flagged), acceptedRecord(clean)]);
    await world.drained();

    const earnings = (await world.readTopic(world.topics.earnings, 2)).map((m) =>
      pipeline.v1.VerifiedEarning.decode(m.value!),
    );
    expect(earnings.map((e) => [e.userId, e.userFlags]).sort()).toEqual([
      ['u-clean', []],
      ['u-injector', ['click_injection']],
    ]);
  });
});
