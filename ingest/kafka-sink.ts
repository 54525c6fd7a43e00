// Kafka side of the collector: the idempotent, acks=all producers behind the produce queue; broker
// health (a failed send marks the broker down, and a probe brings it back without a restart); and
// a sampled audit trail of rejected requests on beacons.rejected.v1. Records go to `topic` (beacons)
// unless they name their own (S2S confirmations, `extraTopics`).
import { PipelineError } from '../common/errors.js';
import { createProducer, type Compression } from '../common/kafka-producer.js';
import type { KafkaConnection } from '../common/kafka-security.js';
import type { Logger } from '../common/log.js';
import { topics } from '../schemas/topics.js';
import type { RejectionSample } from './collector.js';
import type { OutRecord } from './produce-queue.js';

export async function createKafkaSink(
  config: KafkaConnection & {
    topic: string;
    extraTopics?: string[];
    producers: number;
    compression: Compression;
    sendTimeoutMs: number;
    auditSampleRate: number;
    auditMaxPerS: number;
  },
  deps: { log: Logger; onAudit(result: 'sent' | 'failed' | 'skipped'): void },
) {
  const log = deps.log.child({ mod: 'kafka_sink' });
  // A request must get its 503 within seconds when the broker is gone, so a send gives up after
  // sendTimeoutMs. A send that failed may still have landed; the aggregator deduplicates by event_id.
  const newProducer = () =>
    createProducer({ ...config, clientId: 'ingest', deliveryTimeoutMs: config.sendTimeoutMs }, { log });
  // Each producer has one send in flight, so each send keeps its order. More than one pipelines
  // sends, at the price of smaller ones (README, Performance).
  const producers = Array.from({ length: config.producers }, newProducer);
  const idle = [...producers];
  const auditProducer = newProducer();
  let healthy = false;
  let probing: NodeJS.Timeout | undefined;

  let probeRunning = false;
  async function probe(): Promise<void> {
    if (probeRunning) return; // a frozen broker makes a probe last its whole timeout
    probeRunning = true;
    try {
      await Promise.all(producers.map((p) => p.connect([config.topic, ...(config.extraTopics ?? [])])));
      if (!healthy) log.info('broker_available');
      healthy = true;
      clearInterval(probing);
      probing = undefined;
    } catch (err) {
      // A refusal no retry mends (TLS, SASL, versions) is the operator's to fix: said loudly, still retried.
      if (err instanceof PipelineError && !err.retriable) log.error({ err }, 'broker_refused');
      else log.debug({ err }, 'broker_probe_failed');
    } finally {
      probeRunning = false;
    }
  }
  function markDown(err: unknown) {
    if (healthy) log.warn({ err }, 'broker_unavailable');
    healthy = false;
    probing ??= setInterval(() => void probe(), 1_000);
  }

  await probe();
  if (!healthy) markDown(new Error('broker not reachable at start'));

  let auditTokens = config.auditMaxPerS;
  const refill = setInterval(() => (auditTokens = config.auditMaxPerS), 1_000);

  return {
    healthy: () => healthy,
    async send(records: OutRecord[]): Promise<void> {
      const producer = idle.pop();
      if (!producer) throw new Error('more concurrent sends than producers'); // the queue prevents this
      try {
        await producer.send(byTopic(config.topic, records), { compression: config.compression });
      } catch (err) {
        markDown(err);
        throw err;
      } finally {
        idle.push(producer);
      }
    },
    audit(s: RejectionSample): void {
      if (Math.random() >= config.auditSampleRate || auditTokens <= 0 || !healthy) return deps.onAudit('skipped');
      auditTokens--;
      const value = JSON.stringify({
        status: s.status,
        reason: s.error,
        app_id: s.appId,
        key_id: s.keyId,
        received_at: s.receivedAt,
        body_bytes: s.body.byteLength,
        body_sample_b64: Buffer.from(s.body.subarray(0, 4096)).toString('base64'),
      });
      auditProducer.send([{ topic: topics.beaconsRejected.name, messages: [{ key: s.appId || null, value }] }]).then(
        () => deps.onAudit('sent'),
        () => deps.onAudit('failed'),
      );
    },
    async stop(): Promise<void> {
      clearInterval(probing);
      clearInterval(refill);
      await Promise.allSettled([...producers, auditProducer].map((p) => p.disconnect()));
    },
  };
}

/** One produce call's records by topic; beacons alone (the hot path) need no grouping. */
export function byTopic(topic: string, records: OutRecord[]): { topic: string; messages: OutRecord[] }[] {
  if (!records.some((r) => r.topic)) return [{ topic, messages: records }];
  const groups = new Map<string, OutRecord[]>();
  for (const r of records) {
    const t = r.topic ?? topic;
    (groups.get(t) ?? groups.set(t, []).get(t)!).push(r);
  }
  return [...groups].map(([t, messages]) => ({ topic: t, messages }));
}
