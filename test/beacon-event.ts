// A beacon event the collector accepts, for unit tests to change what they test.
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';

/** The time the tests' events are judged at. */
export const NOW = 1_700_000_000_000;

export const beaconEvent = (over: Partial<BeaconEvent> = {}): BeaconEvent => ({
  eventId: '6f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6f',
  type: EventType.CLICK,
  occurredAt: NOW - 1_000,
  userId: 'u',
  deviceId: 'd',
  campaignId: 'c',
  creativeId: 'cr',
  placementId: 'p',
  ...over,
});
