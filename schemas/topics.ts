// Every Kafka topic the pipeline uses, created by `npm run migrate` (never by auto-create).
// Names are <domain>.<event>.v<N>; a breaking change to a record's layout is a new topic.
const DAY_MS = 86_400_000;

export interface TopicSpec {
  name: string;
  partitions: number;
  retentionMs: number;
  /** What the record key is; one key's records stay ordered on one partition. */
  key: string;
  /** The record layout (schemas/pipeline.proto or JSON). */
  value: string;
}

export const topics = {
  beaconsAccepted: {
    name: 'beacons.accepted.v1', partitions: 6, retentionMs: 7 * DAY_MS,
    key: 'user_id', value: 'pipeline.v1.AcceptedBeacons (protobuf)',
  },
  beaconsRejected: {
    name: 'beacons.rejected.v1', partitions: 1, retentionMs: 7 * DAY_MS,
    key: 'app_id', value: 'JSON {reason, app_id, received_at, sample}: an audit sample of rejections',
  },
  beaconsDeadLetter: {
    name: 'beacons.deadletter.v1', partitions: 1, retentionMs: 30 * DAY_MS,
    key: 'original key', value: 'original bytes; headers dlq_reason, dlq_topic, dlq_partition, dlq_offset',
  },
  confirmations: {
    name: 'confirmations.v1', partitions: 6, retentionMs: 30 * DAY_MS,
    key: 'user_id', value: 'pipeline.v1.Confirmation (protobuf): a verified S2S callback or postback',
  },
  earningsVerified: {
    name: 'earnings.verified.v1', partitions: 6, retentionMs: 30 * DAY_MS,
    key: 'user_id', value: 'pipeline.v1.VerifiedEarning (protobuf)',
  },
  earningsDeadLetter: {
    name: 'earnings.deadletter.v1', partitions: 1, retentionMs: 30 * DAY_MS,
    key: 'original key', value: 'original bytes; headers as beacons.deadletter.v1',
  },
} as const satisfies Record<string, TopicSpec>;

export const allTopics: TopicSpec[] = Object.values(topics);
