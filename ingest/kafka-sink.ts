// Kafka side of the collector: the idempotent, acks=all producer behind the produce queue; broker
// health (a failed send marks the broker down, and a probe brings it back without a restart); and
// a sampled audit trail of rejected requests on beacons.rejected.v1.
import kafkajs, { type Kafka } from 'kafkajs';
import { createIdempotentProducer } from '../common/kafka.js';
import type { Logger } from '../common/log.js';
import { topics } from '../schemas/topics.js';
import type { RejectionSample } from './collector.js';
import type { OutRecord } from './produce-queue.js';

export type Compression = 'none' | 'gzip' | 'snappy';

// Snappy costs a fraction of gzip's CPU on the hot path (codec registered in common/kafka.ts).
const codecs = { none: kafkajs.CompressionTypes.None, gzip: kafkajs.CompressionTypes.GZIP, snappy: kafkajs.CompressionTypes.Snappy };

export async function createKafkaSink(
  config: { topic: string; producers: number; compression: Compression; sendTimeoutMs: number; auditSampleRate: number; auditMaxPerS: number },
  deps: { kafka: Kafka; log: Logger; onAudit(result: 'sent' | 'failed' | 'skipped'): void },
) {
  const log = deps.log.child({ mod: 'kafka_sink' });
  const compression = codecs[config.compression];
  // Bounded retries: a request must get its 503 within seconds when the broker is gone. A retry
  // after an ambiguous failure may duplicate records; the aggregator deduplicates by event_id.
  const retry = { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 };
  // Several idempotent producers, each with one send in flight at a time (kafkajs assigns sequence
  // numbers per send, so one producer must never have two in flight): pipelining without giving
  // up idempotence.
  const producers = Array.from({ length: config.producers }, () => createIdempotentProducer(deps.kafka, { retry }, { log }));
  const idle = [...producers];
  const auditProducer = deps.kafka.producer({
    allowAutoTopicCreation: false, retry: { retries: 1 }, createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  const admin = deps.kafka.admin({ retry: { retries: 0 } });
  let healthy = false;
  let probing: NodeJS.Timeout | undefined;

  async function probe(): Promise<void> {
    try {
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [config.topic] });
      await Promise.all(producers.map((p) => p.connect()));
      if (!healthy) log.info('broker_available');
      healthy = true;
      clearInterval(probing);
      probing = undefined;
    } catch (err) {
      log.debug({ err }, 'broker_probe_failed');
    }
  }
  function markDown(err: unknown) {
    if (healthy) log.warn({ err }, 'broker_unavailable');
    healthy = false;
    probing ??= setInterval(() => void probe(), 1_000);
  }

  await probe();
  if (!healthy) markDown(new Error('broker not reachable at start'));
  await auditProducer.connect().catch((err: unknown) => log.warn({ err }, 'audit_producer_not_connected'));

  let auditTokens = config.auditMaxPerS;
  const refill = setInterval(() => (auditTokens = config.auditMaxPerS), 1_000);

  return {
    healthy: () => healthy,
    async send(records: OutRecord[]): Promise<void> {
      const producer = idle.pop();
      if (!producer) throw new Error('more concurrent sends than producers'); // the queue prevents this
      try {
        await producer.send({
          topic: config.topic, acks: -1, timeout: config.sendTimeoutMs, compression,
          messages: records.map((r) => ({ key: r.key, value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) })),
        });
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
        status: s.status, reason: s.error, app_id: s.appId, key_id: s.keyId, received_at: s.receivedAt,
        body_bytes: s.body.byteLength, body_sample_b64: Buffer.from(s.body.subarray(0, 4096)).toString('base64'),
      });
      auditProducer.send({ topic: topics.beaconsRejected.name, messages: [{ key: s.appId || null, value }] })
        .then(() => deps.onAudit('sent'), () => deps.onAudit('failed'));
    },
    async stop(): Promise<void> {
      clearInterval(probing);
      clearInterval(refill);
      await Promise.allSettled([...producers.map((p) => p.disconnect()), auditProducer.disconnect(), admin.disconnect()]);
    },
  };
}
