// The SDK in a Node process (a game server, a backend that reports its users' ad events): the same
// queue as a page's (queue.ts), kept in a file (storage-file.ts), so events tracked before a crash
// or a deploy are sent by the next process. One process per file.
import { createBeaconClient, EventType, SDK_VERSION, type BeaconClientConfig, type EventInput } from './client.js';
import { createQueue, type QueueConfig } from './queue.js';
import { fileStorage } from './storage-file.js';
import type { BeaconEvent } from '../../schemas/beacon-json.js';

export { EventType };

export interface TrackerConfig extends Omit<BeaconClientConfig, 'maxAttempts'>, QueueConfig {
  /** The queue's journal, e.g. `/var/lib/my-app/ads-events.log`. */
  file: string;
  onDrop?: (events: BeaconEvent[], reason: string) => void;
}

export function createTracker(config: TrackerConfig) {
  const client = createBeaconClient({ ...config, sdk: config.sdk ?? `node/${SDK_VERSION}`, maxAttempts: 1 });
  const queue = createQueue(config, {
    send: client.send,
    storage: fileStorage(config.file),
    ...(config.onDrop && { onDrop: config.onDrop }),
  });
  return {
    /** Queues an event (in the file before this resolves); returns it, with its event_id. Throws a TypeError for a field it cannot encode. */
    async track(input: EventInput): Promise<BeaconEvent> {
      const event = client.event(input);
      await queue.push(event);
      return event;
    },
    /** Sends what waits now, whatever the backoff. */
    flush: () => queue.flush(),
    get pending() {
      return queue.size;
    },
    /** Sends what it can now, whatever the backoff, then stops; what is left stays in the file for the next process. Call it before the process exits: the queue's timer keeps no process alive. */
    async close() {
      await queue.flush();
      queue.close();
    },
  };
}
