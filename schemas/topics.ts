// Every Kafka topic the pipeline uses, created by `npm run migrate` (never by auto-create).
// Names are <domain>.<event>.v<N>; a breaking change to a record's layout is a new topic.
const DAY_MS = 86_400_000;

/** The largest changelog record the broker takes: a step's entry must fit (aggregator/app.ts). */
export const CHANGELOG_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface TopicSpec {
  name: string;
  partitions: number;
  retentionMs: number;
  /** What the record key is; one key's records stay ordered on one partition. */
  key: string;
  /** The record layout (schemas/pipeline.proto or JSON). */
  value: string;
  /** Topic configs beyond retention.ms, set when created and on every migrate. */
  configs?: Record<string, string>;
}

export const topics = {
  beaconsAccepted: {
    name: 'beacons.accepted.v1',
    partitions: 6,
    retentionMs: 7 * DAY_MS,
    key: 'user_id',
    value: 'pipeline.v1.AcceptedBeacons (protobuf)',
  },
  beaconsRejected: {
    name: 'beacons.rejected.v1',
    partitions: 1,
    retentionMs: 7 * DAY_MS,
    key: 'app_id',
    value: 'JSON {reason, app_id, received_at, sample}: an audit sample of rejections',
  },
  beaconsDeadLetter: {
    name: 'beacons.deadletter.v1',
    partitions: 1,
    retentionMs: 30 * DAY_MS,
    key: 'original key',
    value: 'original bytes; headers dlq_reason, dlq_topic, dlq_partition, dlq_offset',
  },
  confirmations: {
    name: 'confirmations.v1',
    partitions: 6,
    retentionMs: 30 * DAY_MS,
    key: 'user_id',
    value: 'pipeline.v1.Confirmation (protobuf): a verified S2S callback or postback',
  },
  earningsVerified: {
    name: 'earnings.verified.v1',
    partitions: 6,
    retentionMs: 30 * DAY_MS,
    key: 'user_id',
    value: 'pipeline.v1.VerifiedEarning (protobuf)',
  },
  earningsDeadLetter: {
    name: 'earnings.deadletter.v1',
    partitions: 1,
    retentionMs: 30 * DAY_MS,
    key: 'original key',
    value: 'original bytes; headers as beacons.deadletter.v1',
  },
  // The aggregator's state partitions' durable truth (aggregator/README.md "State"): partition p is
  // state partition p, so as many partitions as the beacons. Deleted by time (the broker's default
  // cleanup.policy, delete), kept longer than any lifetime in the state (the 7-day dedup window).
  aggregatorChangelog: {
    name: 'aggregator.changelog.v1',
    partitions: 6,
    retentionMs: 9 * DAY_MS,
    key: 'state partition (each record is written to that partition by number)',
    value: 'aggregator changelog entry (binary: aggregator/store/changelog.ts)',
    // An entry holds a whole step's changes (AGGREGATOR_STEP_BYTES of records, 2 MiB by default).
    configs: { 'cleanup.policy': 'delete', 'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES) },
  },
} as const satisfies Record<string, TopicSpec>;

export const allTopics: TopicSpec[] = Object.values(topics);
