// The consumer group's partition assigner: partition p of every subscribed topic goes to the same
// member (co-partitioning, as Kafka Streams does), because the beacons and the confirmations of p
// share one state partition (README "State"). Topics of unequal partition counts are refused.
import kafkajs, { type PartitionAssigner } from 'kafkajs';
import { PipelineError } from '../common/errors.js';

const { MemberAssignment, MemberMetadata } = kafkajs.AssignerProtocol;

export interface MemberPartitions {
  memberId: string;
  assignment: Record<string, number[]>;
}

/**
 * Partition p of every topic to member p mod n of the members sorted by id: counts differ by at most
 * one, and the same members and topics always give the same answer. Every member is listed, even
 * one left without partitions.
 */
export function assignCoPartitioned(
  memberIds: string[],
  topics: { topic: string; partitions: number }[],
): MemberPartitions[] {
  const counts = new Set(topics.map((t) => t.partitions));
  if (counts.size > 1) {
    const listed = topics.map((t) => `${t.topic}: ${t.partitions}`).join(', ');
    throw new PipelineError(
      'partition_counts_differ',
      `co-partitioned topics must have the same partition count (${listed})`,
      { retriable: false },
    );
  }
  const members = [...new Set(memberIds)].sort();
  const out = members.map((memberId) => ({
    memberId,
    assignment: Object.fromEntries(topics.map((t) => [t.topic, [] as number[]])),
  }));
  if (out.length === 0) return out;
  for (const { topic, partitions } of topics) {
    for (let p = 0; p < partitions; p++) out[p % out.length]!.assignment[topic]!.push(p);
  }
  return out;
}

export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'CoPartitionedAssigner',
  version: 0,
  async assign({ members, topics }) {
    const counts = [...new Set(topics)].map((topic) => ({
      topic,
      partitions: cluster.findTopicPartitionMetadata(topic).length,
    }));
    return assignCoPartitioned(
      members.map((m) => m.memberId),
      counts,
    ).map(({ memberId, assignment }) => ({
      memberId,
      memberAssignment: MemberAssignment.encode({ version: this.version, assignment, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return {
      name: this.name,
      metadata: MemberMetadata.encode({ version: this.version, topics, userData: Buffer.alloc(0) }),
    };
  },
});
